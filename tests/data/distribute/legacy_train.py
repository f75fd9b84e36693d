"""A Keras 2 script: with TF_USE_LEGACY_KERAS=1 and tf-keras installed, tf.keras is
legacy tf_keras, which kmon refuses (tests/e2e/test_distribute.py)."""

import numpy as np
import tensorflow as tf

print("legacy tf.keras in use:", tf.keras.__name__.split(".")[0], flush=True)
x = np.random.default_rng(0).normal(size=(64, 4)).astype("float32")
y = x.sum(axis=1, keepdims=True)
model = tf.keras.Sequential([tf.keras.Input((4,)), tf.keras.layers.Dense(1)])
model.compile("sgd", "mse")
model.fit(x, y, batch_size=16, epochs=1, verbose=0)
print("trained without kmon")
