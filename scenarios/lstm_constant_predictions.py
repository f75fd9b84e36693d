"""Why an LSTM predicts the same value for every input."""

from __future__ import annotations

from .base import Scenario

SYMPTOM = (
    "The loss is huge and barely moves, and model.predict() returns the same number "
    "for every input window, whatever the series does."
)

EXPLANATION = """\
The series is in its raw units (values around 3,000). Keras 3's LSTM multiplies each \
input by small Glorot-initialized weights and feeds the result to sigmoid gates and a \
tanh: with inputs in the thousands every unit saturates, so every input window gives \
the same hidden state (all 0s and ±1s) and gradients through the saturated units are \
exactly zero. Only the Dense output layer learns, and all it can learn is a constant. \
Adam moves each weight by about its learning rate (0.001) per step, so climbing from \
0 to a mean of 3,000 would take millions of steps: the prediction is a constant far \
from the targets and the MSE stays around 1e7. Standardizing inputs and targets with \
the training set's mean and standard deviation (and inverting it on the predictions) \
keeps the units in their working range: the same model tracks the series. A learning \
rate far too high does the opposite: the weights blow up within a few dozen steps and \
the loss becomes Inf, then NaN."""

LOOK_AT = (
    "The Alarms tab (press a): unscaled_data at fit start with the data's mean and std, "
    "prediction_variance within the first seconds of training (three collapsed checks "
    "in a row) with the predictions' spread against the targets', then vanishing_gradients (the LSTM's gradient is 0 while the output "
    "layer's is in the thousands). The header's alarm badge shows from any tab."
)

WINDOW = 24
SERIES_LENGTH = 2400
EPOCHS = 15


def series(rng):
    """Hourly load in raw units: a daily and a weekly cycle, a slow trend, noise."""
    import numpy as np

    t = np.arange(SERIES_LENGTH + WINDOW)
    return (
        3000
        + 800 * np.sin(2 * np.pi * t / 24)
        + 300 * np.sin(2 * np.pi * t / (24 * 7))
        + 0.5 * t
        + 60 * rng.normal(size=t.size)
    )


def train(variant: str) -> None:
    import keras
    import numpy as np

    keras.utils.set_random_seed(3)
    values = series(np.random.default_rng(3))
    x = np.stack([values[i : i + WINDOW] for i in range(SERIES_LENGTH)])[..., None]
    y = values[WINDOW : WINDOW + SERIES_LENGTH, None]
    x, y = x.astype("float32"), y.astype("float32")
    train_rows = int(SERIES_LENGTH * 0.8)  # what validation_split=0.2 trains on
    mean, std = 0.0, 1.0
    if variant in ("fixed", "exploding"):
        mean, std = float(x[:train_rows].mean()), float(x[:train_rows].std())
        x, y = (x - mean) / std, (y - mean) / std
    model = keras.Sequential(
        [keras.Input((WINDOW, 1)), keras.layers.LSTM(16), keras.layers.Dense(1)],
        name=f"lstm_{variant}",
    )
    optimizer = keras.optimizers.SGD(3.0) if variant == "exploding" else "adam"
    model.compile(optimizer=optimizer, loss="mse")
    model.fit(x, y, batch_size=32, epochs=EPOCHS, validation_split=0.2)
    predictions = model.predict(x[train_rows:], verbose=0)[:, 0].astype("float64") * std + mean
    targets = y[train_rows:, 0].astype("float64") * std + mean
    print("validation windows, in the series' units:")
    print(f"  targets:     std {targets.std():9.2f}   first five {np.round(targets[:5], 1)}")
    print(
        f"  predictions: std {predictions.std():9.2f}   first five {np.round(predictions[:5], 1)}"
    )


SCENARIO = Scenario(
    name="lstm_constant_predictions",
    title="My LSTM predicts the same value for every input",
    question="Why does my LSTM output the same prediction no matter what series I feed it?",
    variants={
        "broken": "raw values in the thousands into a small LSTM: predictions collapse to "
        "a constant",
        "fixed": "the same data standardized (inputs and targets): the LSTM tracks the series",
        "exploding": "standardized data, SGD with learning rate 3.0: gradients explode, "
        "the loss turns Inf then NaN",
    },
    explanation=EXPLANATION,
    symptom=SYMPTOM,
    look_at=LOOK_AT,
    train=train,
)
