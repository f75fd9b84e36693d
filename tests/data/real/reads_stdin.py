"""A script configured through its stdin, as in ``python train.py < params.txt`` or
``echo 3 | python train.py``: the epochs come from the first line, and at the end it
asks whether to save, as tutorials' ``input()`` prompts do. With no input (end of
file) it falls back to defaults, as a careful script does."""

import sys

import keras
import numpy as np

line = sys.stdin.readline()
epochs = int(line) if line.strip() else 1
print(f"epochs from stdin: {epochs}")

keras.utils.set_random_seed(0)
x = np.random.default_rng(0).normal(size=(64, 4)).astype("float32")
y = x @ np.array([[1.0], [-2.0], [0.5], [3.0]], dtype="float32")
model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
model.compile(optimizer="adam", loss="mse")
model.fit(x, y, batch_size=16, epochs=epochs)

try:
    answer = input("save the model? [y/N] ")
except EOFError:
    answer = ""
print(f"answer: {answer.strip() or 'none (end of file)'}")
