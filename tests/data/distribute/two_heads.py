"""The two-head model and data the distribute scripts train (imported from this
folder, which is first on ``sys.path`` under ``kmon train`` as under ``python``).
Keras and NumPy only: the backend scripts run it on JAX and torch."""

import keras
import numpy as np


def data(rows: int):
    """``rows`` inputs of 4 features; a binary head ``a`` and a regression head ``b``."""
    x = np.random.default_rng(0).normal(size=(rows, 4)).astype("float32")
    return x, {"a": (x[:, :1] > 0).astype("float32"), "b": x[:, 1:2] * 2.0}


def build():
    """A compiled model with heads ``a`` (BCE, weight 1, accuracy) and ``b`` (MSE,
    weight 0.5) on a shared 6-unit trunk."""
    inputs = keras.Input((4,))
    hidden = keras.layers.Dense(6, activation="relu", name="trunk")(inputs)
    outputs = {
        "a": keras.layers.Dense(1, activation="sigmoid", name="a")(hidden),
        "b": keras.layers.Dense(1, name="b")(hidden),
    }
    model = keras.Model(inputs, outputs)
    model.compile(
        optimizer=keras.optimizers.SGD(0.01),
        loss={"a": "binary_crossentropy", "b": "mse"},
        loss_weights={"a": 1.0, "b": 0.5},
        metrics={"a": ["accuracy"]},
    )
    return model
