"""The diagnosis zoo's broken runs whose data or optimizer is wrong (unscaled inputs
and targets, NaN, learning rates), each beside the fix its alarm's advice names.

A broken case has one failure, checked in its curves (``diagnosis.py --verbose``);
its fix is the same run with the advised change, run as a healthy case: the alarm
must never fire on it (issue #20, item 5). The runs whose model learns the wrong
thing, or nothing, are in ``_zoo_broken_learning.py``.
"""

from __future__ import annotations

from _zoo_cases import (
    blobs,
    case,
    hourly_series,
    rng,
    standardized,
    tabular_regression,
    windows,
)

# -- unscaled inputs into an LSTM -----------------------------------------------------------


def lstm_on_series(scaled: bool, *, optimizer="adam", batch_size=32, epochs=4):
    """The bundled ``lstm_constant_predictions`` scenario, shortened: a 16-unit LSTM
    on 24-hour windows of an hourly series, in raw units or standardized."""
    import keras

    x, y = windows(hourly_series(2424), 24)
    if scaled:
        x, y = standardized(x, y, int(len(x) * 0.8))
    model = keras.Sequential([keras.Input((24, 1)), keras.layers.LSTM(16), keras.layers.Dense(1)])
    model.compile(optimizer, "mse")
    model.fit(x, y, batch_size=batch_size, epochs=epochs, validation_split=0.2)


def lstm_at_learning_rate(optimizer):
    """The standardized LSTM in batches of 8 (240 steps an epoch, about 2-3 s here:
    kmon's first gradient probe waits for 2.5 s of training)."""
    lstm_on_series(scaled=True, optimizer=optimizer, batch_size=8, epochs=3)


@case(
    "unscaled_lstm",
    "LSTM(16) on an hourly series in raw units (~3,000): saturated gates, one constant "
    "prediction",
    expect={"unscaled_data", "prediction_variance"},
    # True as well: the saturated LSTM passes no gradient at all, and the loss
    # (about 1.3e7) moves by 0.03% an epoch.
    allow={"vanishing_gradients", "no_learning"},
    quick=True,
)
def unscaled_lstm():
    lstm_on_series(scaled=False, epochs=5)


@case(
    "unscaled_lstm_fixed",
    "the same LSTM, inputs and targets standardized",
    fixes=("unscaled_lstm",),
)
def unscaled_lstm_fixed():
    lstm_on_series(scaled=True, epochs=5)


# -- NaN in the data -------------------------------------------------------------------------


def mlp_with_missing(impute: bool):
    """An MLP regression whose inputs lack 1% of their values (NaN), or with those
    imputed by their column's mean."""
    import keras
    import numpy as np

    x, y = tabular_regression(4000, 10, offset=5)
    missing = rng(6).random(x.shape) < 0.01
    x[missing] = np.nan
    if impute:
        means = np.nanmean(x, axis=0)
        x = np.where(np.isnan(x), means, x).astype("float32")
    model = keras.Sequential(
        [keras.Input((10,)), keras.layers.Dense(32, activation="relu"), keras.layers.Dense(1)]
    )
    model.compile("adam", "mse")
    model.fit(x, y, batch_size=32, epochs=4, validation_split=0.2)


@case(
    "nan_in_data",
    "MLP regression, 1% of the input values NaN (missing values read as NaN)",
    expect={"nonfinite_data"},
    # What follows on TensorFlow 2.21 (CPU): the first step turns the first layer's
    # weights NaN; the compiled ReLU outputs 0 for NaN (eager relu keeps NaN), so the
    # model outputs one constant with a finite loss. So the predictions are constant,
    # every ReLU unit is dead, nothing learns and the gradients are NaN: all true.
    allow={"prediction_variance", "dead_units", "no_learning", "exploding_gradients", "nan_loss"},
    quick=True,
)
def nan_in_data():
    mlp_with_missing(impute=False)


@case("nan_in_data_fixed", "the same, missing values imputed", fixes=("nan_in_data",))
def nan_in_data_fixed():
    mlp_with_missing(impute=True)


# -- a sequence output on targets in raw units --------------------------------------------


def sequence_forecast(*, scaled_inputs: bool, scaled_targets: bool):
    """A sequence-to-sequence LSTM: from 24 hours, the next 24 hours (one output per
    step, ``return_sequences=True``), inputs and targets in the series' raw units or
    standardized."""
    import keras

    values = hourly_series(2447, offset=1)
    x, y = windows(values, 24, horizon=24)
    rows = int(len(x) * 0.8)
    mean, std = float(x[:rows].mean()), float(x[:rows].std())
    if scaled_inputs:
        x = (x - mean) / std
    if scaled_targets:
        y = (y - mean) / std
    model = keras.Sequential(
        [
            keras.Input((24, 1)),
            keras.layers.LSTM(16, return_sequences=True),
            keras.layers.Dense(1),
        ]
    )
    model.compile("adam", "mse")
    model.fit(x, y, batch_size=32, epochs=4, validation_split=0.2)


@case(
    "constant_sequence_output",
    "sequence-output LSTM on raw units (~3,000) in and out: every step of every "
    "window gets one constant",
    expect={"unscaled_data", "prediction_variance"},
    # As in unscaled_lstm: the saturated LSTM passes no gradient, nothing learns.
    allow={"vanishing_gradients", "no_learning"},
)
def constant_sequence_output():
    sequence_forecast(scaled_inputs=False, scaled_targets=False)


@case(
    "sequence_raw_targets",
    "sequence-output LSTM, standardized inputs but targets in raw units: the outputs "
    "vary by a ten-thousandth of the targets' spread, far below them",
    expect={"unscaled_data", "prediction_variance"},
    # True as well: the loss (about 1.3e7) moves by 0.1% an epoch.
    allow={"no_learning"},
)
def sequence_raw_targets():
    sequence_forecast(scaled_inputs=True, scaled_targets=False)


@case(
    "sequence_output_fixed",
    "the sequence-output LSTM, inputs and targets standardized",
    fixes=("constant_sequence_output", "sequence_raw_targets"),
)
def sequence_output_fixed():
    sequence_forecast(scaled_inputs=True, scaled_targets=True)


# -- learning rates ---------------------------------------------------------------------------


@case(
    "exploding_lr",
    "the standardized LSTM with SGD at learning rate 3.0: the loss turns Inf then NaN "
    "in the first epoch",
    # The gradients are NaN once the weights are: kmon must say so too. (Its first
    # gradient probe waits for 2.5 s of training, so on a fast machine, whose
    # epochs here last under a second, it may come late.)
    expect={"nan_loss", "exploding_gradients"},
    # True as well: a loss that jumps to Inf is an unstable one.
    allow={"unstable_training"},
)
def exploding_lr():
    import keras

    lstm_at_learning_rate(keras.optimizers.SGD(3.0))


@case(
    "exploding_lr_lower",
    "the same with SGD at 0.03 (the advice: lower the learning rate)",
    fixes=("exploding_lr",),
)
def exploding_lr_lower():
    import keras

    lstm_at_learning_rate(keras.optimizers.SGD(0.03))


@case(
    "exploding_lr_clipped",
    "the same at 3.0 with clipnorm=0.1 (the advice: clip gradients; at clipnorm=1.0 the "
    "loss stays finite but 3x the constant predictor's)",
    fixes=("exploding_lr",),
)
def exploding_lr_clipped():
    import keras

    lstm_at_learning_rate(keras.optimizers.SGD(3.0, clipnorm=0.1))


def mlp_5_classes(learning_rate: float):
    """An MLP 64-64 on 5 blob classes with Adam at ``learning_rate``."""
    import keras

    x, y = blobs(8000, 20, 5, spread=0.8, offset=14)
    model = keras.Sequential(
        [
            keras.Input((20,)),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(5, activation="softmax"),
        ]
    )
    model.compile(keras.optimizers.Adam(learning_rate), "sparse_categorical_crossentropy")
    model.fit(x, y, batch_size=32, epochs=5, validation_split=0.2)


@case(
    "unstable_lr",
    "MLP, 5 classes, Adam at 0.1: batch losses spike past 10x their median and the "
    "epoch loss climbs back up, never NaN",
    expect={"unstable_training"},
    # Adam at 0.1 also kills ReLU units by the fifth epoch (dead_units' advice names
    # a learning rate too high as its first cause): true of this run, not its point.
    allow={"dead_units"},
)
def unstable_lr():
    mlp_5_classes(0.1)


@case("unstable_lr_fixed", "the same at Adam's default 0.001", fixes=("unstable_lr",))
def unstable_lr_fixed():
    mlp_5_classes(0.001)


BROKEN = [
    unscaled_lstm,
    unscaled_lstm_fixed,
    constant_sequence_output,
    sequence_raw_targets,
    sequence_output_fixed,
    exploding_lr,
    exploding_lr_lower,
    exploding_lr_clipped,
    unstable_lr,
    unstable_lr_fixed,
    nan_in_data,
    nan_in_data_fixed,
]
