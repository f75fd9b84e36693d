"""A script that picks its Keras backend in code, as Keras's guide shows: set
KERAS_BACKEND before the first `import keras`. Under `kmon train` it trained on
TensorFlow (kmon had imported Keras first) while `python` ran it on JAX; found in a
user-style trial, whose TensorFlow start-up lines gave it away."""

import os

os.environ["KERAS_BACKEND"] = "jax"

import keras  # noqa: E402
import numpy as np  # noqa: E402

print(f"backend: {keras.backend.backend()}", flush=True)
rng = np.random.default_rng(0)
x = rng.normal(size=(512, 8)).astype("float32")
y = (x[:, :2].sum(axis=1, keepdims=True) > 0).astype("float32")
model = keras.Sequential(
    [keras.Input((8,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(1, activation="sigmoid")]
)
model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
model.fit(x, y, batch_size=32, epochs=3, validation_split=0.25, verbose=0)
print("done", flush=True)
