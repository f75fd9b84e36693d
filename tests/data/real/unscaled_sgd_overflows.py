"""House prices from raw square footage and room counts, unscaled, with plain SGD
at the learning rate of a tutorial that had scaled its inputs: the loss overflows
to inf in its first steps, and the fit trains on; later losses are finite again
(the ReLUs it blew up stay dead) but far from any useful model."""

import keras
import numpy as np

rng = np.random.default_rng(7)
rows = 2048
area = rng.uniform(500, 4000, size=rows)
rooms = rng.integers(1, 7, size=rows)
age = rng.uniform(0, 80, size=rows)
x = np.stack([area, rooms, age], axis=1).astype("float32")
price = 150.0 * area + 10_000.0 * rooms - 500.0 * age + rng.normal(0, 20_000, size=rows)
y = price.astype("float32")

keras.utils.set_random_seed(7)
model = keras.Sequential(
    [keras.Input((3,)), keras.layers.Dense(32, activation="relu"), keras.layers.Dense(1)]
)
model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1), loss="mse")
history = model.fit(x, y, batch_size=32, epochs=2, verbose=0)
print("final loss:", history.history["loss"][-1])
