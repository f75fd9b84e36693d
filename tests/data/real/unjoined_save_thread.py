"""A script that hands its last save to a thread and returns without joining it, as
scripts do that save in the background while they print their summary. Python
waits for such a thread (it is no daemon) before the process ends, so the file
is written.

    python unjoined_save_thread.py RESULTS_PATH
"""

import json
import sys
import threading
import time

import keras
import numpy as np


def save(path: str, history: dict) -> None:
    time.sleep(1.0)  # a slow disk, a large model: the script's code is done by now
    with open(path, "w") as handle:
        json.dump({"final_loss": history["loss"][-1]}, handle)


def main() -> None:
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).normal(size=(64, 4)).astype("float32")
    y = x.sum(axis=1, keepdims=True)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    history = model.fit(x, y, batch_size=16, epochs=2, verbose=0)
    threading.Thread(target=save, args=(sys.argv[1], history.history), name="saver").start()
    print("training done; saving in the background", flush=True)


if __name__ == "__main__":
    main()
