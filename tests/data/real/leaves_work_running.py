"""A script whose main code starts its work and returns, leaving Python to finish
it before the process exits, as scripts that grew by accretion do:

- a trainer thread, which reads its output folder from ``sys.argv`` and pickles a
  summary whose class is defined in the script (``__main__``);
- a ``ProcessPoolExecutor`` used for scoring and never shut down;
- a ``multiprocessing`` child (no daemon) that writes a report a moment later.

    python leaves_work_running.py OUT_DIR
"""

import concurrent.futures
import multiprocessing
import os
import pickle
import sys
import threading
import time

import keras
import numpy as np


class RunSummary:
    def __init__(self, final_loss):
        self.final_loss = final_loss


def score(value):
    return value * value


def train():
    time.sleep(0.8)  # the main code has returned by now
    out = sys.argv[1]
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).normal(size=(128, 4)).astype("float32")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    history = model.fit(x, x[:, :1], batch_size=32, epochs=2, verbose=0)
    with open(os.path.join(out, "summary.pkl"), "wb") as handle:
        pickle.dump(RunSummary(history.history["loss"][-1]), handle)
    print("trainer saved its summary", flush=True)


def report(out):
    time.sleep(1.0)
    with open(os.path.join(out, "child.txt"), "w") as handle:
        handle.write("report\n")
    print("child wrote its report", flush=True)


if __name__ == "__main__":
    pool = concurrent.futures.ProcessPoolExecutor(max_workers=1)
    print("scores", [pool.submit(score, i).result() for i in range(3)], flush=True)
    threading.Thread(target=train, name="trainer").start()
    multiprocessing.Process(target=report, args=(sys.argv[1],), name="reporter").start()
    print("main code done", flush=True)
