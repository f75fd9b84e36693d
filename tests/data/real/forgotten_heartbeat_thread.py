"""A script whose heartbeat thread, started for a cluster's watchdog, is never told
to stop: it is no daemon, so under plain python the process does not exit when
the script's code is done, until Ctrl+C gives the thread up.

    python forgotten_heartbeat_thread.py HEARTBEAT_PATH
"""

import sys
import threading
import time

import keras
import numpy as np


def heartbeat(path: str) -> None:
    beats = 0
    while True:  # the script meant to stop it, and forgot
        beats += 1
        with open(path, "w") as handle:
            handle.write(f"{beats}\n")
        time.sleep(0.2)


threading.Thread(target=heartbeat, args=(sys.argv[1],), name="heartbeat").start()
x = np.random.default_rng(0).normal(size=(64, 4)).astype("float32")
model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
model.compile(optimizer="sgd", loss="mse")
model.fit(x, x[:, :1], batch_size=16, epochs=2, verbose=0)
print("training done", flush=True)
