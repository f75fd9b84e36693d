"""Why History's loss differs from the loss you saw on the console."""

from __future__ import annotations

from .base import Scenario

EXPLANATION = """\
In Keras 3, the loss passed to on_train_batch_end (and shown by the progress bar) \
is the running mean over the epoch so far, weighted by batch size, not the loss of \
the last batch. History records that running mean at the epoch's last batch. It \
averages batches computed with different weights (they change after every step) \
and, with dropout, with dropout active. Evaluating the model on the same training \
data after the epoch uses the final weights and no dropout, so it gives a third, \
usually lower, number."""


def train(variant: str) -> None:
    import keras
    import numpy as np

    keras.utils.set_random_seed(7)
    rng = np.random.default_rng(7)
    x = rng.normal(size=(2000, 16)).astype("float32")
    w = rng.normal(size=(16, 1)).astype("float32")
    y = (x @ w + 0.3 * rng.normal(size=(2000, 1))).astype("float32")
    layers = [keras.Input((16,)), keras.layers.Dense(64, activation="relu")]
    if variant == "dropout":
        layers.append(keras.layers.Dropout(0.5))
    layers.append(keras.layers.Dense(1))
    model = keras.Sequential(layers, name=f"history_vs_console_{variant}")
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse", metrics=["mae"])
    model.fit(x, y, batch_size=64, epochs=8, validation_split=0.2)
    print("evaluate() on the training data:", model.evaluate(x[:1600], y[:1600], verbose=0))


SCENARIO = Scenario(
    name="history_vs_console",
    title="History's loss differs from the console's",
    question="Why is the loss in model.history not the loss the progress bar showed last?",
    variants={
        "dropout": "a regression MLP with Dropout(0.5): the gap is widest",
        "plain": "the same model without dropout: the gap comes from changing weights alone",
    },
    explanation=EXPLANATION,
    train=train,
    evaluate_training_data=True,
)
