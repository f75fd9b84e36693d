"""A script whose SIGTERM handler tells its uploader thread to stop, as jobs on a
preemptible machine do: the thread keeps syncing until then, and the script's
code returns without joining it. Under plain python the process waits for the
thread, and a SIGTERM then runs the handler, the thread ends and the process
exits 0.

    python sigterm_stops_worker_thread.py
"""

import signal
import threading
import time

import keras
import numpy as np

stop = threading.Event()


def on_sigterm(signum, frame):
    print("SIGTERM: stopping the uploader", flush=True)
    stop.set()


def upload_checkpoints():
    ticks = 0
    while not stop.is_set():
        ticks += 1
        time.sleep(0.2)
    print(f"uploader stopped after {ticks} ticks", flush=True)


signal.signal(signal.SIGTERM, on_sigterm)
threading.Thread(target=upload_checkpoints, name="uploader").start()
x = np.random.default_rng(0).normal(size=(64, 4)).astype("float32")
model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
model.compile(optimizer="sgd", loss="mse")
model.fit(x, x[:, :1], batch_size=16, epochs=2, verbose=0)
print("training done", flush=True)
