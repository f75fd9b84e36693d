"""The claims of the LSTM article (``002_c5209398e32580e6.txt``), each tested by a
variant of :mod:`.lstm_constant_predictions`. Plain data: the checks are in
``kmon.engine.view.claim_checks``; the verdicts come from running them.

"Fixes the constant predictions" is measured against the best constant prediction
(the ``baselines`` kmon computes at fit start): a model whose training loss is not
under half of that constant's predicts little more than a constant.
"""

from __future__ import annotations

from .base import Claim

SOURCE = "002_c5209398e32580e6.txt"


def _claim(text: str, variant: str, outcome: str, verdict: str, check: str) -> Claim:
    return Claim(text, SOURCE, variant, outcome, verdict, check)


_BEATS = "the training loss ends under half the best constant prediction's"

CLAIMS: tuple[Claim, ...] = (
    _claim(
        "LSTMs are sensitive to the scale of their input data.",
        "broken",
        "unscaled_data at fit start, and the loss no better than a constant's",
        "holds: raw values in the thousands saturate the LSTM",
        "unscaled_and_stuck",
    ),
    _claim(
        "ReLU or variations like LeakyReLU can help prevent gradients from completely vanishing.",
        "relu",
        _BEATS,
        "does not hold on unscaled data: the ReLU LSTM stays a constant predictor",
        "beats_constant",
    ),
    _claim(
        "employing gradient clipping, where gradients exceeding a certain threshold are "
        "truncated, can stabilize the training process",
        "clipnorm",
        _BEATS,
        "does not hold against vanishing gradients: clipping only shrinks large ones",
        "beats_constant",
    ),
    _claim(
        "This example demonstrates the use of ReLU activation and gradient clipping "
        "(`clipnorm=1.0`) within the Adam optimizer to mitigate vanishing gradients.",
        "example1",
        _BEATS,
        "does not hold: example 1 on the raw series still predicts a constant",
        "beats_constant",
    ),
    _claim(
        "Increase the number of layers or the number of units per layer to provide the "
        "network with more capacity.",
        "stacked",
        _BEATS,
        "does not hold: LSTM(64) over LSTM(32) on the raw series predicts a constant",
        "beats_constant",
    ),
    _claim(
        "Incorporate dropout layers to prevent overfitting.",
        "dropout",
        _BEATS,
        "does not hold as a fix for constant predictions: dropout changes nothing here",
        "beats_constant",
    ),
    _claim(
        "This example adds dropout layers (`dropout=0.2`) to the LSTM model. Dropout "
        "randomly deactivates neurons during training, preventing overfitting and "
        "improving generalization.",
        "example3",
        _BEATS,
        "does not hold: example 3 on the raw series predicts a constant",
        "beats_constant",
    ),
    _claim(
        "Now use X_train_scaled and X_test_scaled in your LSTM model training",
        "example2",
        _BEATS,
        "does not hold: example 2 scales the inputs only; with raw targets the "
        "predictions stay near a constant (see fixed)",
        "beats_constant",
    ),
    _claim(
        "This includes standardization (z-score normalization) or min-max scaling to "
        "ensure features have comparable ranges.",
        "fixed",
        _BEATS,
        "holds when inputs and targets are both standardized",
        "beats_constant",
    ),
    _claim(
        "padding/truncating sequences to match a specific length can introduce "
        "artifacts if not done carefully",
        "padded",
        "zero-padded after the readings, without Masking, the loss stays above half the "
        "best constant's",
        "holds when the padding follows the readings and no Masking layer skips it: "
        "0.57 times the constant's loss, against 0.022 with Masking (padded_masked)",
        "constant_predictions",
    ),
    _claim(
        "Handle sequence length inconsistencies by padding or truncating sequences to a "
        "consistent length.",
        "padded_masked",
        _BEATS,
        "holds with a Masking layer",
        "beats_constant",
    ),
    _claim(
        "missing values, if not addressed appropriately (e.g., imputation with "
        "mean/median or sophisticated methods like KNN imputation), can corrupt the "
        "learning process",
        "missing_values",
        "nonfinite_data at fit start and a NaN loss from the first batch",
        "holds: one NaN reading makes the whole run NaN",
        "nan_from_start",
    ),
    _claim(
        "An under-parameterized LSTM may simply not have the capacity to learn the "
        "underlying patterns in your data.",
        "under_capacity",
        "a one-unit LSTM on standardized data does no better than half the constant's loss",
        "holds: one unit ends at 0.9 times the best constant's loss (16 units: 0.014)",
        "constant_predictions",
    ),
    _claim(
        "The lack of dropout regularization can lead to overfitting",
        "overfit",
        "overfitting is raised without dropout",
        "holds: val_loss rises from its best at epoch 4 while the training loss falls",
        "alarm_raised:overfitting",
    ),
    _claim(
        "the network memorizes the training data but fails to generalize to unseen "
        "data, possibly exhibiting consistent, incorrect predictions",
        "overfit",
        "prediction_variance is raised on the overfitting model (its predictions barely vary)",
        "does not hold: the overfitting model's predictions vary (prediction_variance "
        "stays silent) while its validation loss rises",
        "alarm_raised:prediction_variance",
    ),
    _claim(
        "Dropout randomly deactivates neurons during training, preventing overfitting",
        "overfit_dropout",
        "with dropout=0.3, overfitting stays silent",
        "does not hold here: with dropout=0.3 overfitting is still raised, one epoch "
        "later than without",
        "alarm_silent:overfitting",
    ),
)
