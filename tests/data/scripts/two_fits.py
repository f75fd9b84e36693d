"""Fixture script: two fit() calls on a tiny model (3 + 2 epochs, 4 steps each).

Recorded into ../two_fits.jsonl by kmon; see ../README.md.
"""

import keras
import numpy as np

keras.utils.set_random_seed(0)

x = np.random.rand(80, 4).astype("float32")
y = (x.sum(axis=1, keepdims=True) > 2.0).astype("float32")

model = keras.Sequential(
    [
        keras.Input(shape=(4,)),
        keras.layers.Dense(8, activation="relu"),
        keras.layers.Dropout(0.25),
        keras.layers.Dense(1),
    ]
)
model.compile(optimizer="adam", loss="mse")

# 64 training samples after the split, batch 16: 4 steps per epoch.
model.fit(x, y, epochs=3, batch_size=16, validation_split=0.2, verbose=0)
print("first fit done, fine-tuning")
model.fit(x[:64], y[:64], epochs=2, batch_size=16, verbose=0)
print("all done")
