"""A script that trains in a worker thread and lets its main thread end, as scripts
do that keep the main thread for something else (a status server, a GUI) or
simply forget to join: Python runs the worker to its end before the process
exits, because it is no daemon.

    python train_in_background_thread.py MODEL_PATH
"""

import sys
import threading

import keras
import numpy as np


def train(path: str) -> None:
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).normal(size=(256, 8)).astype("float32")
    y = (x[:, :1] > 0).astype("float32")
    model = keras.Sequential(
        [keras.Input((8,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(1)]
    )
    model.compile(optimizer="adam", loss=keras.losses.BinaryCrossentropy(from_logits=True))
    model.fit(x, y, batch_size=32, epochs=3, validation_split=0.25, verbose=2)
    model.save(path)
    print(f"saved {path}", flush=True)


if __name__ == "__main__":
    worker = threading.Thread(target=train, args=(sys.argv[1],), name="trainer")
    worker.start()
    print("training started in the background", flush=True)
