"""A script whose own callback fails mid-epoch: a checkpoint written to a folder
that does not exist, at batch 130 of 200. Under python it dies with that
traceback and exit code 1; the batches it trained before are in kmon's log."""

import keras
import numpy as np

x = np.random.default_rng(0).normal(size=(6400, 8)).astype("float32")
y = x.sum(axis=1, keepdims=True)
model = keras.Sequential(
    [keras.Input((8,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(1)]
)
model.compile(optimizer="adam", loss="mse")


class Checkpointer(keras.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        if batch == 130:
            with open("/nonexistent/kmon-test/ckpt.txt", "w") as handle:
                handle.write(str(logs))


model.fit(x, y, batch_size=32, epochs=2, verbose=0, callbacks=[Checkpointer()])
