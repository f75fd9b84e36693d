"""Trains under tf.distribute.MirroredStrategy on two logical CPU devices; run by
tests/e2e/test_distribute.py under `kmon train`. Writes what the test compares the
event log with (the true loss of each batch from a one-device twin, History with and
without probes, gradient norms) to the JSON file named by its first argument."""

import json
import sys

import tensorflow as tf

# Logical devices must be configured before TensorFlow initializes its devices:
# first thing in the script (kmon imports Keras, but initializes no device).
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

import keras  # noqa: E402
import numpy as np  # noqa: E402
from two_heads import build, data  # noqa: E402

from kmon.engine import probes  # noqa: E402

strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
x, y = data(100)


keras.utils.set_random_seed(1)
with strategy.scope():
    probed, plain = build(), build()
twin = build()  # one device: the truth
plain.set_weights(probed.get_weights())
twin.set_weights(probed.get_weights())
batch = probes.ProbeBatch(x[:64], {k: v[:64] for k, v in y.items()}, "test")
result = {
    "replicas": strategy.num_replicas_in_sync,
    "gradients": probes.gradient_norms(probed, batch),
    "twin_gradients": probes.gradient_norms(twin, batch),
    "prediction_rows": {k: len(v) for k, v in probes.predict(probed, batch).items()},
}

# fit 0: probes at every step; fit 1: the same model without probes.
probes.set_probe_config(every=1, gradient_every=1)
history = probed.fit(x, y, batch_size=32, epochs=2, shuffle=False)
probes.set_probe_config(enabled=False)
plain_history = plain.fit(x, y, batch_size=32, epochs=2, shuffle=False)
result["history"] = history.history
result["plain_history"] = plain_history.history
result["truth"] = [
    twin.train_on_batch(x[s : s + 32], {k: v[s : s + 32] for k, v in y.items()}, return_dict=True)
    for _ in range(2)
    for s in range(0, 100, 32)
]

# fit 2, called inside the scope (as many scripts do), both probes on: inputs in the
# thousands saturate tanh, every prediction is the same, the prediction probe says so.
probes.set_probe_config(every=2, gradient_every=2)
raw = np.random.default_rng(1).normal(2000, 30, size=(256, 6)).astype("float32")
target = (raw - 2000).sum(axis=1, keepdims=True) * 10 + 5000
with strategy.scope():
    collapsing = keras.Sequential(
        [
            keras.Input((6,)),
            keras.layers.Dense(16, activation="tanh"),
            keras.layers.Dense(1, name="forecast"),
        ]
    )
    collapsing.compile(optimizer="adam", loss="mse")
    collapsing.fit(raw, target, batch_size=32, epochs=2)

with open(sys.argv[1], "w") as out:
    json.dump(result, out)
