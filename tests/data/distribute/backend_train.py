"""Runs under `kmon train` with KERAS_BACKEND=jax or torch (tests/e2e/test_distribute.py).
Writes to the JSON file named by its first argument what the test compares the event
log with: each batch's true loss from a twin model, gradient norms computed by hand,
and which threads ran the batch-end hooks."""

import json
import sys
import threading

import keras
import numpy as np
from two_heads import build, data

from kmon.engine import probes

x, y = data(100)


class Threads(keras.callbacks.Callback):
    """Where Keras calls the batch hooks: begin on the training thread, end maybe not."""

    def __init__(self):
        super().__init__()
        self.async_safe = True
        self.begin, self.end = set(), set()

    def on_train_batch_begin(self, batch, logs=None):
        self.begin.add(threading.get_ident())

    def on_train_batch_end(self, batch, logs=None):
        self.end.add(threading.get_ident())


keras.utils.set_random_seed(1)
model, twin = build(), build()
twin.set_weights(model.get_weights())
threads = Threads()
probes.set_probe_config(every=1, gradient_every=1)
history = model.fit(x, y, batch_size=32, epochs=2, shuffle=False, callbacks=[threads])
result = {
    "backend": keras.backend.backend(),
    "history": history.history,
    "truth": [
        {
            k: float(v)
            for k, v in twin.train_on_batch(
                x[s : s + 32], {k: v[s : s + 32] for k, v in y.items()}, return_dict=True
            ).items()
        }
        for _ in range(2)
        for s in range(0, 100, 32)
    ],
    "begin_threads": len(threads.begin),
    "end_threads_elsewhere": len(threads.end - threads.begin),
}

# Gradient probe against the gradient worked out by hand: a linear model under MSE,
# d/dW mean((xW + b - t)^2) = 2/N x^T (xW + b - t).
linear = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, name="linear")])
linear.compile(optimizer="sgd", loss="mse")
target = x @ np.array([[1.0], [-2.0], [0.5], [3.0]], dtype="float32")
linear.fit(x, target, batch_size=50, epochs=1, verbose=0)
kernel, bias = (np.asarray(w, dtype="float64") for w in linear.get_weights())
error = x @ kernel + bias - target
by_hand = np.sqrt(
    np.sum((2 / len(x) * x.T @ error) ** 2) + np.sum((2 / len(x) * error.sum(axis=0)) ** 2)
)
norms, loss = probes.gradient_norms(linear, probes.ProbeBatch(x, target, "test"))
result["gradient"] = {"probe": dict(norms), "by_hand": float(by_hand), "loss": loss}
result["loss_by_hand"] = float(np.mean(error**2))

# Every prediction the same: a huge negative bias saturates the sigmoid (relu cut).
probes.set_probe_config(every=1, gradient_every=1)
dead = keras.Sequential(
    [
        keras.Input((4,)),
        keras.layers.Dense(
            8, activation="relu", bias_initializer=keras.initializers.Constant(-50.0)
        ),
        keras.layers.Dense(1, name="forecast"),
    ]
)
dead.compile(optimizer="sgd", loss="mse")
dead.fit(x, x[:, :1] * 3.0, batch_size=10, epochs=2)

with open(sys.argv[1], "w") as out:
    json.dump(result, out)
