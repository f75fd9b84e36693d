"""A user scenario, as a user would write one for `kmon run --from DIR` (and tests)."""

from kmon.scenarios.base import Scenario


def train(variant: str) -> None:
    import keras
    import numpy as np

    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).normal(size=(64, 3)).astype("float32")
    y = x.sum(axis=1, keepdims=True) * (10.0 if variant == "steep" else 1.0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)], name=f"tiny_{variant}")
    model.compile(optimizer="sgd", loss="mse")
    model.fit(x, y, batch_size=16, epochs=3, validation_split=0.25)
    print(f"tiny_fit {variant} done")


SCENARIO = Scenario(
    name="tiny_fit",
    title="A tiny linear fit",
    question="Does a scenario from my own folder run like a bundled one?",
    variants={"gentle": "targets of unit scale", "steep": "targets ten times larger"},
    explanation="A linear model fits a sum of its inputs; nothing to explain.",
    symptom="None: this scenario exists to test user folders.",
    look_at="The Loss tab.",
    train=train,
)
