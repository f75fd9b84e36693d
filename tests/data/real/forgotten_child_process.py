"""A script that starts a monitoring child process (no daemon) and never stops it:
under plain python the process waits for the child at exit, until Ctrl+C in the
terminal reaches both and ends them.

    python forgotten_child_process.py PID_FILE
"""

import multiprocessing
import os
import sys
import time

import keras
import numpy as np


def watch(pid_path):
    with open(pid_path, "w") as handle:
        handle.write(str(os.getpid()))
    while True:  # meant to be stopped, and forgotten
        time.sleep(0.2)


if __name__ == "__main__":
    multiprocessing.Process(target=watch, args=(sys.argv[1],), name="watcher").start()
    x = np.random.default_rng(0).normal(size=(64, 4)).astype("float32")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    model.fit(x, x[:, :1], batch_size=16, epochs=2, verbose=0)
    print("training done", flush=True)
