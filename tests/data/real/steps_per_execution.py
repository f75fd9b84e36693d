"""A regression MLP compiled with ``steps_per_execution=8`` and ``jit_compile``, as
the Keras performance guides suggest, validated every second epoch on a split: Keras
calls the batch hooks once per execution of 8 steps (16 full ones and a last one of
5 a 133-step epoch), and the model ends far below the constant predictor's loss."""

import keras
import numpy as np

rng = np.random.default_rng(0)
x = rng.normal(size=(5300, 20)).astype("float32")
w = rng.normal(size=(20, 1)).astype("float32")
y = (x @ w + 0.05 * rng.normal(size=(5300, 1))).astype("float32")

model = keras.Sequential(
    [keras.Input((20,)), keras.layers.Dense(64, activation="relu"), keras.layers.Dense(1)]
)
model.compile(
    optimizer=keras.optimizers.Adam(0.005),
    loss="mse",
    metrics=["mae"],
    steps_per_execution=8,
    jit_compile=True,
)
history = model.fit(
    x, y, batch_size=32, epochs=4, validation_split=0.2, validation_freq=2, verbose=2
)
print("history loss", history.history["loss"])
