"""Fixture script: trains one epoch, then raises.

Recorded into ../failed.jsonl by kmon; see ../README.md.
"""

import keras
import numpy as np

keras.utils.set_random_seed(0)

x = np.random.rand(32, 4).astype("float32")
y = x.sum(axis=1, keepdims=True)

model = keras.Sequential([keras.Input(shape=(4,)), keras.layers.Dense(1)])
model.compile(optimizer="sgd", loss="mse")
model.fit(x, y, epochs=1, batch_size=8, verbose=0)
print("about to fail")
raise RuntimeError("fixture failure after one epoch")
