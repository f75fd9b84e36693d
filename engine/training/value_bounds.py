"""The range a logged value cannot leave, known from the loss or metric behind it.

A value recovered outside its range proves the recovery wrong (the running mean is
not weighted as kmon read it), so :mod:`.recovery` stops recovering that key.
Only ranges that hold for any valid targets are listed: Poisson and KL divergence
can be negative in Keras (``y_pred - y·log(y_pred)``; unnormalized
distributions), so they have none. Targets outside a loss's domain (a binary
crossentropy on labels of 2) can still leave the range; the running mean then
leaves it too, which :mod:`.recovery` takes as the range not holding.
"""

from __future__ import annotations

import math

NON_NEGATIVE = (0.0, math.inf)
UNIT = (0.0, 1.0)
SIGNED_UNIT = (-1.0, 1.0)

Range = tuple[float, float]

#: Keras loss functions (``keras.losses.<name>``) that are never negative.
_NON_NEGATIVE_LOSSES = (
    "mean_squared_error",
    "mean_absolute_error",
    "mean_absolute_percentage_error",
    "mean_squared_logarithmic_error",
    "huber",
    "log_cosh",
    "hinge",
    "squared_hinge",
    "categorical_hinge",
    "binary_crossentropy",
    "binary_focal_crossentropy",
    "categorical_crossentropy",
    "categorical_focal_crossentropy",
    "sparse_categorical_crossentropy",
)

#: Keras metric classes (``keras.metrics.<name>``) by range.
_METRIC_RANGES = {
    NON_NEGATIVE: (
        "MeanAbsoluteError",
        "MeanSquaredError",
        "MeanAbsolutePercentageError",
        "MeanSquaredLogarithmicError",
        "LogCoshError",
        "RootMeanSquaredError",
        "Hinge",
        "SquaredHinge",
        "CategoricalHinge",
        "BinaryCrossentropy",
        "CategoricalCrossentropy",
        "SparseCategoricalCrossentropy",
    ),
    UNIT: (
        "Accuracy",
        "BinaryAccuracy",
        "CategoricalAccuracy",
        "SparseCategoricalAccuracy",
        "TopKCategoricalAccuracy",
        "SparseTopKCategoricalAccuracy",
    ),
    SIGNED_UNIT: ("CosineSimilarity",),
}

#: Regularizers (``keras.regularizers.<name>``) whose penalty is never negative.
_NON_NEGATIVE_REGULARIZERS = ("L1", "L2", "L1L2", "OrthogonalRegularizer")


def loss_range(loss) -> Range | None:
    """The range of a compiled loss (a ``keras.losses`` object or function), or None."""
    import keras

    function = getattr(loss, "fn", loss)
    if any(function is getattr(keras.losses, name, None) for name in _NON_NEGATIVE_LOSSES):
        return NON_NEGATIVE
    if function is getattr(keras.losses, "cosine_similarity", None):
        return SIGNED_UNIT
    return None


def metric_range(metric) -> Range | None:
    """The range of a Keras metric object's result, or None (a plain ``Mean``, a
    custom metric: anything may be averaged)."""
    import keras

    for bounds, names in _METRIC_RANGES.items():
        for name in names:
            cls = getattr(keras.metrics, name, None)
            # Exact classes: a subclass may compute something else.
            if cls is not None and type(metric) is cls:
                return bounds
    return None


def total_loss_range(model, added_losses: bool) -> Range | None:
    """The range of the total loss ``compile()`` builds: never negative when every
    compiled loss is a non-negative Keras loss with a non-negative weight, and the
    rest is built-in regularizers. None when anything else may add to it
    (``add_loss()``, ``added_losses``; an overridden ``compute_loss``) or when
    ``compile()`` got no loss."""
    import keras

    compile_loss = getattr(model, "_compile_loss", None)
    entries = list(getattr(compile_loss, "_flat_losses", None) or [])
    if not entries or added_losses:
        return None
    if type(model).compute_loss is not keras.Model.compute_loss:
        return None
    for entry in entries:
        weight = entry.loss_weights
        if loss_range(entry.loss) != NON_NEGATIVE or (weight is not None and weight < 0):
            return None
    for layer in _flatten_layers(model):
        for weight in getattr(layer, "weights", None) or []:
            regularizer = getattr(weight, "regularizer", None)
            if regularizer is not None and not _non_negative_regularizer(regularizer, keras):
                return None
        activity = getattr(layer, "activity_regularizer", None)
        if activity is not None and not _non_negative_regularizer(activity, keras):
            return None
    return NON_NEGATIVE


def _non_negative_regularizer(regularizer, keras) -> bool:
    return any(
        type(regularizer) is getattr(keras.regularizers, name, None)
        for name in _NON_NEGATIVE_REGULARIZERS
    )


def _flatten_layers(model):
    try:
        return list(model._flatten_layers(include_self=True))
    except (AttributeError, TypeError):
        return [model]


def describe_range(bounds: Range) -> str:
    """``"cannot be negative"``, ``"lies in [0, 1]"``."""
    low, high = bounds
    if high == math.inf:
        return "cannot be negative" if low == 0 else f"cannot be below {low:g}"
    return f"lies in [{low:g}, {high:g}]"
