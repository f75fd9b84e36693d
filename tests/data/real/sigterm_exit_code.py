"""A training script whose SIGTERM handler ends it with an exit code of its own.

Batch schedulers read the exit code: this script leaves with 3 ("preempted") from
inside its handler, mid-fit. It prints ``training`` once fit's first batch is done.
"""

import signal
import sys

import keras
import numpy as np


def on_sigterm(signum, frame):
    print("preempted: leaving with exit code 3", flush=True)
    sys.exit(3)


signal.signal(signal.SIGTERM, on_sigterm)


class Announce(keras.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        if batch == 0 and not getattr(self, "done", False):
            self.done = True
            print("training", flush=True)


keras.utils.set_random_seed(0)
x = np.random.default_rng(0).normal(size=(64, 4)).astype("float32")
y = x.sum(axis=1, keepdims=True)
model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
model.compile(optimizer="sgd", loss="mse")
model.fit(x, y, batch_size=16, epochs=100000, verbose=0, callbacks=[Announce()])
print("fit returned: the handler did not run")
