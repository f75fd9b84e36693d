"""Why an LSTM predicts the same value for every input, and which advice fixes it.

Its variants replay the three code examples of ``002_c5209398e32580e6.txt`` on this
scenario's series, each remedy that article proposes on its own, and the other
causes it names (padding without masking, missing values, too small a model,
overfitting); its claims are in :mod:`.lstm_claims`.
"""

from __future__ import annotations

from .base import Scenario
from .lstm_claims import CLAIMS

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
the loss becomes Inf, then NaN. The article's remedies for "vanishing gradients" \
(clipping, a ReLU LSTM, more layers or units, dropout) leave the raw data as it is: \
none of them brings the predictions back (see the claims)."""

LOOK_AT = (
    "The Alarms tab (press a): unscaled_data at fit start with the data's mean and std, "
    "prediction_variance within the first seconds of training (three collapsed checks "
    "in a row) with the predictions' spread against the targets', then vanishing_gradients (the LSTM's gradient is 0 while the output "
    "layer's is in the thousands). The header's alarm badge shows from any tab. "
    "After a run, press e: the claims this run tested, with its numbers."
)

WINDOW = 24
SERIES_LENGTH = 2400
EPOCHS = 10
#: Epochs of the variants with two large LSTMs (four times the work per epoch).
LARGE_EPOCHS = 4
#: Windows, epochs and batch size of the overfitting variants: few noisy rows.
OVERFIT_ROWS, OVERFIT_EPOCHS, OVERFIT_BATCH = 150, 20, 16


def series(rng, length: int = SERIES_LENGTH, noise: float = 60.0):
    """Hourly load in raw units: a daily and a weekly cycle, a slow trend, noise."""
    import numpy as np

    t = np.arange(length + WINDOW)
    return (
        3000
        + 800 * np.sin(2 * np.pi * t / 24)
        + 300 * np.sin(2 * np.pi * t / (24 * 7))
        + 0.5 * t
        + noise * rng.normal(size=t.size)
    )


def windows(values, length: int):
    """``(x, y)``: each window of ``WINDOW`` values and the value after it, float32."""
    import numpy as np

    x = np.stack([values[i : i + WINDOW] for i in range(length)])[..., None]
    y = values[WINDOW : WINDOW + length, None]
    return x.astype("float32"), y.astype("float32")


#: variant -> (data, layers, optimizer). Data: "raw" (series units), "scaled"
#: (inputs and targets standardized), "inputs_scaled" (inputs only, as the
#: article's example 2 does), "padded", "nan", "noisy" (few windows whose next
#: value is half the last reading plus as much noise).
#: Layers: (units, keyword arguments) per LSTM, stacked in order.
SETUPS = {
    "broken": ("raw", [(16, {})], "adam"),
    "example1": ("raw", [(64, {"activation": "relu"}), (32, {})], "clipnorm"),
    "example2": ("inputs_scaled", [(16, {})], "adam"),
    "example3": ("raw", [(64, {"dropout": 0.2}), (32, {"dropout": 0.2})], "adam"),
    "clipnorm": ("raw", [(16, {})], "clipnorm"),
    "relu": ("raw", [(16, {"activation": "relu"})], "adam"),
    "stacked": ("raw", [(64, {}), (32, {})], "adam"),
    "dropout": ("raw", [(16, {"dropout": 0.2})], "adam"),
    "padded": ("padded", [(16, {})], "adam"),
    "padded_masked": ("padded", [(16, {})], "adam"),
    "missing_values": ("nan", [(16, {})], "adam"),
    "under_capacity": ("scaled", [(1, {})], "adam"),
    "overfit": ("noisy", [(64, {})], "adam_fast"),
    "overfit_dropout": ("noisy", [(64, {"dropout": 0.3})], "adam_fast"),
    "fixed": ("scaled", [(16, {})], "adam"),
    "exploding": ("scaled", [(16, {})], "sgd3"),
}


def _data(kind: str, np):
    """``(x, y, mean, std)`` for a data kind; mean and std undo the scaling."""
    rng = np.random.default_rng(3)
    if kind == "noisy":
        x = rng.normal(size=(OVERFIT_ROWS, WINDOW, 1)).astype("float32")
        y = 0.5 * x[:, -1] + rng.normal(size=(OVERFIT_ROWS, 1)).astype("float32")
        return x, y.astype("float32"), 0.0, 1.0
    x, y = windows(series(rng), SERIES_LENGTH)
    rows = int(len(x) * 0.8)  # what validation_split=0.2 trains on
    if kind == "raw":
        return x, y, 0.0, 1.0
    mean, std = float(x[:rows].mean()), float(x[:rows].std())
    if kind == "inputs_scaled":
        # StandardScaler's arithmetic (per feature, population std), on X only.
        flat = x[:rows].reshape(-1, x.shape[-1])
        return (x - flat.mean(axis=0)) / flat.std(axis=0), y, 0.0, 1.0
    x, y = (x - mean) / std, (y - mean) / std
    if kind == "nan":
        x = x.copy()
        x[rng.random(x.shape) < 0.002] = np.nan  # a few missing readings
    if kind == "padded":
        # Windows of 6 to 24 readings, zero-padded after the readings to 24.
        lengths = rng.integers(6, WINDOW + 1, size=len(x))
        x, y = x.copy(), y.copy()
        for row, length in enumerate(lengths):
            if length < WINDOW:  # the target is the reading after the kept ones
                y[row] = x[row, length, 0]
                x[row, length:] = 0.0
    return x.astype("float32"), y.astype("float32"), mean, std


def train(variant: str) -> None:
    import keras
    import numpy as np

    keras.utils.set_random_seed(3)
    data, lstms, optimizer = SETUPS[variant]
    x, y, mean, std = _data(data, np)
    layers = [keras.Input((WINDOW, 1))]
    if variant == "padded_masked":
        layers.append(keras.layers.Masking(0.0))
    for index, (units, options) in enumerate(lstms):
        last = index == len(lstms) - 1
        layers.append(keras.layers.LSTM(units, return_sequences=not last, **options))
    layers.append(keras.layers.Dense(1))
    model = keras.Sequential(layers, name=f"lstm_{variant}")
    chosen = {
        "adam": "adam",
        "clipnorm": keras.optimizers.Adam(clipnorm=1.0),
        "adam_fast": keras.optimizers.Adam(1e-2),
        "sgd3": keras.optimizers.SGD(3.0),
    }[optimizer]
    model.compile(optimizer=chosen, loss="mse")
    noisy = data == "noisy"
    epochs = OVERFIT_EPOCHS if noisy else LARGE_EPOCHS if lstms[0][0] >= 64 else EPOCHS
    model.fit(x, y, batch_size=OVERFIT_BATCH if noisy else 32, epochs=epochs, validation_split=0.2)
    rows = int(len(x) * 0.8)
    predictions = model.predict(x[rows:], verbose=0)[:, 0].astype("float64") * std + mean
    targets = y[rows:, 0].astype("float64") * std + mean
    print("validation windows, in the series' units:")
    print(f"  targets:     std {targets.std():9.2f}   first five {np.round(targets[:5], 1)}")
    print(
        f"  predictions: std {predictions.std():9.2f}   first five {np.round(predictions[:5], 1)}"
    )


VARIANTS = {
    "broken": "raw values in the thousands into a small LSTM: predictions collapse to a constant",
    "example1": "the article's example 1: a ReLU LSTM(64) over an LSTM(32), Adam with "
    "clipnorm=1.0, on the raw series",
    "example2": "the article's example 2: inputs standardized as StandardScaler does, "
    "targets left in raw units",
    "example3": "the article's example 3: two LSTMs with dropout=0.2, on the raw series",
    "clipnorm": "the broken model with Adam(clipnorm=1.0): clipping only shrinks large gradients",
    "relu": "the broken model with a ReLU LSTM (activation='relu')",
    "stacked": "more layers and units: LSTM(64) over LSTM(32), on the raw series",
    "dropout": "the broken model with dropout=0.2 in the LSTM",
    "padded": "standardized windows of 6 to 24 readings, zero-padded after the readings, "
    "no Masking",
    "padded_masked": "the same padded windows behind a Masking(0.0) layer",
    "missing_values": "standardized data with 0.2% of the readings missing (NaN)",
    "under_capacity": "standardized data into an LSTM of a single unit",
    "overfit": "150 windows whose next value is mostly noise, an LSTM(64) without "
    "dropout, Adam at 0.01 for 20 epochs",
    "overfit_dropout": "the same with dropout=0.3 in the LSTM",
    "fixed": "the same data standardized (inputs and targets): the LSTM tracks the series",
    "exploding": "standardized data, SGD with learning rate 3.0: gradients explode, "
    "the loss turns Inf then NaN",
}

SCENARIO = Scenario(
    name="lstm_constant_predictions",
    title="My LSTM predicts the same value for every input",
    question="Why does my LSTM output the same prediction no matter what series I feed it?",
    variants=VARIANTS,
    explanation=EXPLANATION,
    symptom=SYMPTOM,
    look_at=LOOK_AT,
    train=train,
    kinds={
        "broken": "problem",
        **dict.fromkeys(("example1", "example2", "example3"), "example"),
        **dict.fromkeys(("clipnorm", "relu", "stacked", "dropout"), "remedy"),
        **dict.fromkeys(
            (
                "padded",
                "padded_masked",
                "missing_values",
                "under_capacity",
                "overfit",
                "overfit_dropout",
                "exploding",
            ),
            "cause",
        ),
        "fixed": "fix",
    },
    replays={
        "example1": "002 example 1",
        "example2": "002 example 2",
        "example3": "002 example 3",
    },
    claims=CLAIMS,
)
