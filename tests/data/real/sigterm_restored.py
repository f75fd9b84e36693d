"""A script that sets SIGTERM back to ``SIG_DFL``, or to ``SIG_IGN`` (``argv[1]``:
``default`` or ``ignore``), as scripts do when a library installed a handler they
do not want. It prints ``training`` once fit runs, and stops itself 2 s later.

Under plain python, ``default`` dies at once on SIGTERM and ``ignore`` trains on.
Under kmon, ``default`` gives SIGTERM back to kmon: a graceful stop, with the run's
end in the log.
"""

import signal
import sys
import time

import keras
import numpy as np

wanted = signal.SIG_IGN if sys.argv[1:] == ["ignore"] else signal.SIG_DFL
signal.signal(signal.SIGTERM, wanted)
if signal.getsignal(signal.SIGTERM) != wanted:
    sys.exit("signal.getsignal did not return what was just installed")


class StopAfterTwoSeconds(keras.callbacks.Callback):
    started = None

    def on_train_batch_end(self, batch, logs=None):
        if self.started is None:
            self.started = time.monotonic()
            print("training", flush=True)
        elif time.monotonic() - self.started > 2.0:
            print("still training 2 s later", flush=True)
            self.model.stop_training = True


x = np.zeros((32, 4), "float32")
y = np.zeros((32, 1), "float32")
model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
model.compile(optimizer="sgd", loss="mse")
model.fit(x, y, batch_size=16, epochs=100000, verbose=0, callbacks=[StopAfterTwoSeconds()])
