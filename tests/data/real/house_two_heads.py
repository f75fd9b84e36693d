"""House listings: the sale price and whether it sells within 30 days, from one
model with two heads, as a data scientist would write it: a wide branch for the
"sells fast" flag, a linear one for the price, and an EarlyStopping that watches
the default val_loss.

Found in a user-style trial (Keras on JAX): the flag's head overfit while the
price's error, far larger, kept the summed val_loss falling, so this EarlyStopping
never stopped, and kmon's advice then was to add the EarlyStopping already there.
"""

import keras
import numpy as np

rng = np.random.default_rng(0)
rows = 300
listings = rng.normal(size=(rows, 20)).astype("float32")
appeal = listings @ rng.normal(size=(20, 1)) / np.sqrt(20) + rng.normal(size=(rows, 1))
sells_fast = (appeal > 0).astype("float32")
price = (listings[:, :3] @ np.array([[6.0], [-3.0], [3.0]])).astype("float32")

keras.utils.set_random_seed(0)
inputs = keras.Input((20,), name="listing")
hidden = keras.layers.Dense(512, activation="relu")(inputs)
hidden = keras.layers.Dense(512, activation="relu")(hidden)
outputs = {
    "sells_fast": keras.layers.Dense(1, activation="sigmoid", name="sells_fast")(hidden),
    "price": keras.layers.Dense(1, name="price")(inputs),
}
model = keras.Model(inputs, outputs)
model.compile(
    optimizer=keras.optimizers.Adam(1e-3),
    loss={"sells_fast": "binary_crossentropy", "price": "mse"},
    metrics={"sells_fast": ["accuracy"]},
)
history = model.fit(
    listings,
    {"sells_fast": sells_fast, "price": price},
    validation_split=0.3,
    batch_size=32,
    epochs=15,
    verbose=2,
    callbacks=[keras.callbacks.EarlyStopping(patience=3, restore_best_weights=True)],
)
print(f"trained {len(history.history['loss'])} epochs")
