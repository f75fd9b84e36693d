"""The names alarms carry: their kinds, the states an alarm goes through, severities.

Kinds:

- ``prediction_variance``: predictions barely vary across inputs (relative to the
  targets' spread): the "same prediction for every input" failure.
- ``vanishing_gradients``: the first layers get gradients orders of magnitude
  smaller than the last layers, or all gradients are near zero while the loss is not.
- ``exploding_gradients``: gradient norms grew by orders of magnitude since the fit
  started, or are not finite.
- ``unscaled_data``: inputs or targets far from unit scale, or features on very
  different ranges.
- ``nonfinite_data``: NaN or Inf in the inputs or targets.
- ``nan_loss``: the training loss became NaN or Inf.
- ``dead_units``: at least three quarters of the units of a ReLU-family layer output
  exactly 0 for every probe sample.
- ``class_collapse``: a classifier head predicts one class for nearly every probe
  sample while its labels hold at least two common classes.
- ``overfitting``: the validation loss (``val_loss`` or a head's) rose for epochs
  from its best, beyond its epoch-to-epoch noise, while the training loss fell.
- ``unstable_training``: per-batch losses spike far above their running median, or
  the epoch's training loss keeps rising, without becoming NaN.
- ``no_learning``: after a full epoch the training loss is no better than the
  constant-predictor baseline (within 1%) and not improving, or (no baseline)
  has not moved from where it started.
- ``not_learning_yet`` (severity ``info``, never a warning): a head's predictions
  barely vary, but its loss gains on the best constant's and on its own mean
  prediction's: a head that learns slowly, not a collapse. It becomes ``prediction_variance`` if the evidence
  of a collapse arrives later.

Plain Python: the monitors (TUI, headless) read these names without Keras.
"""

from __future__ import annotations

RAISED, CLEARED = "raised", "cleared"
ENDED = "ended"
"""An alarm of a model that no longer trains: a later fit trains another model.
Not a fix (the problem was never cleared), so kept apart from ``CLEARED``."""
WARNING, ERROR = "warning", "error"
INFO = "info"
"""Something to know, not a problem: never counted as a warning."""

PREDICTION_VARIANCE = "prediction_variance"
VANISHING_GRADIENTS = "vanishing_gradients"
EXPLODING_GRADIENTS = "exploding_gradients"
UNSCALED_DATA = "unscaled_data"
NONFINITE_DATA = "nonfinite_data"
NAN_LOSS = "nan_loss"
DEAD_UNITS = "dead_units"
CLASS_COLLAPSE = "class_collapse"
OVERFITTING = "overfitting"
UNSTABLE_TRAINING = "unstable_training"
NO_LEARNING = "no_learning"
NOT_LEARNING_YET = "not_learning_yet"

#: The alarms the prediction probes raise and clear (a forward pass on the probe batch).
PREDICTION_ALARMS = frozenset({PREDICTION_VARIANCE, NOT_LEARNING_YET, CLASS_COLLAPSE, DEAD_UNITS})
