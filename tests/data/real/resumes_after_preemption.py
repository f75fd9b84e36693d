"""Train a regressor that survives preemption, as the Keras guide on fault
tolerance does: BackupAndRestore keeps the last finished epoch, and CSVLogger
appends each epoch's numbers to one file across restarts.

    python resumes_after_preemption.py --preempt   # stopped after its third epoch
    python resumes_after_preemption.py             # resumes at the fourth
"""

import os
import sys

import keras
import numpy as np

keras.utils.set_random_seed(0)
rng = np.random.default_rng(6)
x = rng.normal(size=(256, 6)).astype("float32")
y = (x @ rng.normal(size=(6,))).astype("float32")

model = keras.Sequential(
    [keras.Input((6,)), keras.layers.Dense(12, activation="relu"), keras.layers.Dense(1)]
)
model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse", metrics=["mae"])


class Preemption(keras.callbacks.Callback):
    """The scheduler takes the machine back after the third epoch."""

    def on_epoch_end(self, epoch, logs=None):
        if "--preempt" in sys.argv and epoch == 2:
            raise SystemExit("preempted")


callbacks = [
    keras.callbacks.BackupAndRestore(os.path.abspath("backup")),
    keras.callbacks.CSVLogger("epochs.csv", append=True),
    Preemption(),
]
history = model.fit(
    x, y, batch_size=32, epochs=6, validation_split=0.25, callbacks=callbacks, verbose=2
)
print("trained epochs", history.epoch)
