"""Several models in one script, as notebooks turned into scripts do: each block
follows a keras-io example, on small synthetic data.

1. "Simple MNIST convnet", as a dense classifier on 8x8 "images" whose pixels are
   left in 0-255 (the classic forgotten ``/ 255``: kmon raises ``unscaled_data``
   at fit start); sparse categorical cross-entropy, 2 epochs.
2. The functional API guide's multi-output model: a classification head and a
   regression head with ``loss_weights``, so ``loss`` is a weighted total;
   2 epochs.
3. "Timeseries forecasting": a regression LSTM trained in a loop of
   ``fit(epochs=1)`` calls with ``predict()`` between them: one model training
   on, 3 fits.

Five fits, three models: the losses of one are not the next one's, nor its alarms.
"""

import keras
import numpy as np
from keras import layers

keras.utils.set_random_seed(0)
rng = np.random.default_rng(0)

# 1. A classifier on raw pixel values.
pixels = rng.integers(0, 256, size=(256, 64)).astype("float32")
digits = (pixels[:, :32].mean(axis=1) > pixels[:, 32:].mean(axis=1)).astype("int32")
classifier = keras.Sequential(
    [
        keras.Input(shape=(64,)),
        layers.Dense(16, activation="relu"),
        layers.Dense(10, activation="softmax"),
    ],
    name="digits",
)
classifier.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
classifier.fit(pixels, digits, epochs=2, batch_size=32)

# 2. Two heads, weighted.
features = rng.normal(size=(256, 6)).astype("float32")
inputs = keras.Input(shape=(6,), name="features")
trunk = layers.Dense(16, activation="relu")(inputs)
priority = layers.Dense(1, activation="sigmoid", name="priority")(trunk)
delay = layers.Dense(1, name="delay")(trunk)
two_heads = keras.Model(inputs, [priority, delay], name="ticket_router")
two_heads.compile(
    optimizer="adam",
    loss={"priority": "binary_crossentropy", "delay": "mse"},
    loss_weights={"priority": 1.0, "delay": 0.2},
)
two_heads.fit(
    features,
    {"priority": (features[:, 0] > 0).astype("float32"), "delay": features[:, 1:2] * 3.0},
    epochs=2,
    batch_size=32,
)

# 3. An LSTM forecaster, fitted a little at a time.
series = np.sin(np.arange(300) / 8.0).astype("float32")
windows = np.stack([series[i : i + 12] for i in range(240)])[..., None]
targets = series[12:252, None]
forecaster = keras.Sequential(
    [keras.Input(shape=(12, 1)), layers.LSTM(8), layers.Dense(1)], name="forecaster"
)
forecaster.compile(optimizer="adam", loss="mse")
for round_ in range(3):
    forecaster.fit(windows, targets, epochs=1, batch_size=32)
    print(
        f"round {round_}: next value {float(forecaster.predict(windows[-1:], verbose=0)[0, 0]):.3f}"
    )
