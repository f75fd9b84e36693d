"""A tf.data input pipeline as keras-io examples build it
(``from_tensor_slices(...).shuffle().batch().prefetch(tf.data.AUTOTUNE)``), trained
for many tiny epochs with ``verbose=0``: 60 epochs of 2 steps, far faster than a
person reads epoch lines. Exercises headless mode's grouped epoch lines and
``--quiet``."""

import keras
import numpy as np
import tensorflow as tf

keras.utils.set_random_seed(7)
x = np.random.rand(64, 4).astype("float32")
y = (x @ np.array([[1.0], [-2.0], [0.5], [3.0]], dtype="float32")).astype("float32")

train_ds = (
    tf.data.Dataset.from_tensor_slices((x, y))
    .shuffle(buffer_size=64)
    .batch(32)
    .prefetch(tf.data.AUTOTUNE)
)

model = keras.Sequential(
    [keras.Input((4,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(1)]
)
model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
history = model.fit(train_ds, epochs=60, verbose=0)
print(
    f"trained {len(history.history['loss'])} epochs, final loss {history.history['loss'][-1]:.4f}"
)
