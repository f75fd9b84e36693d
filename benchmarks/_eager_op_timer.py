"""Times one eager TensorFlow op where a script's training steps run it: at the
script's top level, and inside ``fit()`` (a callback's batch end), as the best of
several runs of 1,000; and one step of an eager custom training loop (a
``GradientTape`` step of a small MLP, no ``tf.function``: about 60 eager ops) at the
top level, as the best of several runs of 50. Writes them as JSON to the file named
by ``KMON_BENCH_RESULT``. Run as ``python _eager_op_timer.py`` or under ``kmon
train`` by ``stack_capture.py``."""

import json
import os
import time

import keras
import numpy as np
import tensorflow as tf

OPS = 1000
STEPS = 50
ONE = tf.constant(1.0)


def op_us() -> float:
    start = time.perf_counter_ns()
    for _ in range(OPS):
        tf.raw_ops.AddV2(x=ONE, y=ONE)
    return (time.perf_counter_ns() - start) / OPS / 1000


def eager_step_us() -> float:
    """The best µs a step of an eager custom loop, as a script writes one."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((16,)), keras.layers.Dense(32, activation="relu"), keras.layers.Dense(1)]
    )
    optimizer = keras.optimizers.SGD(0.01)
    x, y = tf.random.normal((32, 16)), tf.random.normal((32, 1))

    def step() -> None:
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(model(x) - y))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))

    for _ in range(20):
        step()
    best = float("inf")
    for _ in range(10):
        start = time.perf_counter_ns()
        for _ in range(STEPS):
            step()
        best = min(best, (time.perf_counter_ns() - start) / STEPS / 1000)
    return best


class InFit(keras.callbacks.Callback):
    """The best time of an op at batch ends 3-14 (the fit's frames all in place)."""

    def __init__(self) -> None:
        super().__init__()
        self.best = float("inf")

    def on_train_batch_end(self, batch, logs=None):
        if 3 <= batch < 15:
            self.best = min(self.best, op_us())


def main() -> None:
    top = min(op_us() for _ in range(12))
    eager_step = eager_step_us()
    x = np.zeros((640, 4), "float32")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    timer = InFit()
    model.fit(x, x[:, :1], epochs=1, verbose=0, callbacks=[timer])
    with open(os.environ["KMON_BENCH_RESULT"], "w", encoding="utf-8") as handle:
        json.dump({"top": top, "in_fit": timer.best, "eager_step": eager_step}, handle)


main()
