"""Fixture script: a small LSTM fed a series in raw units (values in the thousands),
then the same model trained on standardized inputs but raw targets.

Fit 0 raises unscaled_data, prediction_variance and vanishing_gradients; fit 1
clears vanishing_gradients (the LSTM's gates no longer saturate) while the other
two stay active (the targets are still in the thousands). Probes run every few steps (not by time budget) so the recording
does not depend on the machine's speed. Recorded into ../alarms.jsonl by kmon;
see ../README.md.
"""

import keras
import numpy as np

from kmon.engine.probes import set_probe_config

keras.utils.set_random_seed(0)
set_probe_config(every=4, gradient_every=6)

rng = np.random.default_rng(0)
t = np.arange(412)
series = 3000 + 800 * np.sin(2 * np.pi * t / 24) + 60 * rng.normal(size=t.size)
x = np.stack([series[i : i + 12] for i in range(400)])[..., None].astype("float32")
y = series[12:412, None].astype("float32")

model = keras.Sequential([keras.Input((12, 1)), keras.layers.LSTM(8), keras.layers.Dense(1)])
model.compile(optimizer="adam", loss="mse")
model.fit(x, y, epochs=3, batch_size=40, verbose=0)
print("raw units: every prediction is", float(model.predict(x[:1], verbose=0)[0, 0]))

mean, std = x.mean(), x.std()
model.fit((x - mean) / std, y, epochs=4, batch_size=40, verbose=0)
print(
    "standardized inputs, raw targets: every prediction is near",
    float(model.predict(x[:1], verbose=0)[0, 0]),
)
