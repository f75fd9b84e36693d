"""A training script for a preemptible job (SLURM, spot VMs), as people write them.

On SIGTERM it finishes the current batch, stops training, saves a checkpoint and
exits 0, so the job can resume later. It also checks that ``signal.getsignal``
returns its handler. Run it as ``python sigterm_checkpoint.py CHECKPOINT``; it
prints ``training`` once fit's first batch is done (when a test may send SIGTERM).
"""

import signal
import sys

import keras
import numpy as np

checkpoint = sys.argv[1] if len(sys.argv) > 1 else "checkpoint.weights.h5"


class StopWhenAsked(keras.callbacks.Callback):
    """Stops fit at the end of the batch during which SIGTERM came."""

    def __init__(self):
        super().__init__()
        self.asked = False
        self.announced = False

    def on_train_batch_end(self, batch, logs=None):
        if not self.announced:
            self.announced = True
            print("training", flush=True)
        if self.asked:
            self.model.stop_training = True


stopper = StopWhenAsked()


def on_sigterm(signum, frame):
    print(f"got signal {signum} in {frame.f_code.co_name if frame else None}", flush=True)
    stopper.asked = True


previous = signal.signal(signal.SIGTERM, on_sigterm)
if signal.getsignal(signal.SIGTERM) is not on_sigterm:
    sys.exit("signal.getsignal did not return the handler just installed")
print(f"handler installed (previous: {previous!r})", flush=True)

keras.utils.set_random_seed(0)
x = np.random.default_rng(0).normal(size=(64, 4)).astype("float32")
y = x.sum(axis=1, keepdims=True)
model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
model.compile(optimizer="sgd", loss="mse")
model.fit(x, y, batch_size=16, epochs=100000, verbose=0, callbacks=[stopper])
model.save_weights(checkpoint)
print(f"checkpoint saved: {checkpoint}", flush=True)
signal.signal(signal.SIGTERM, previous)
