"""What a compiled loss trains a head for: classification or regression, binary or
not, on logits or probabilities, read from the loss object itself rather than from
its name.

``compile()`` turns every loss into a ``keras.losses.Loss``: a string alias
(``"mse"``, ``"binary_crossentropy"``) becomes a ``LossFunctionWrapper`` around the
``keras.losses`` function it names, and the loss classes
(``keras.losses.BinaryCrossentropy(from_logits=True)``) wrap that same function too.
So the function a loss wraps (its ``fn``) says which Keras loss it is, whatever it
is called; a custom loss wraps a function kmon does not know, and its task is None.
:func:`loss_identity` says exactly which one, with the arguments it is called with
(what the constant-predictor baselines of :mod:`kmon.engine.alarms.baselines` need).
"""

from __future__ import annotations

import inspect
from typing import Any

from kmon.engine.head_map import CLASSIFICATION, REGRESSION

#: Keras loss functions (``keras.losses.<name>``) whose targets are classes.
CLASSIFICATION_LOSSES = (
    "binary_crossentropy",
    "binary_focal_crossentropy",
    "categorical_crossentropy",
    "categorical_focal_crossentropy",
    "categorical_generalized_cross_entropy",
    "sparse_categorical_crossentropy",
    "hinge",
    "squared_hinge",
    "categorical_hinge",
    "kl_divergence",
)
#: Of those, the ones whose every output column is a separate yes/no probability.
BINARY_LOSSES = ("binary_crossentropy", "binary_focal_crossentropy")
#: Keras loss functions whose targets are continuous values.
REGRESSION_LOSSES = (
    "mean_squared_error",
    "mean_absolute_error",
    "mean_absolute_percentage_error",
    "mean_squared_logarithmic_error",
    "huber",
    "log_cosh",
    "poisson",
    "cosine_similarity",
)
# Left out on purpose (task None): ctc (label sequences of another length than the
# outputs), dice and tversky (overlap of masks), circle (embeddings).


def loss_kind(loss: Any) -> dict[str, Any]:
    """The head-map fields that say what ``loss`` trains for.

    Args:
        loss: a compiled loss (a ``keras.losses.Loss``), a ``keras.losses`` function,
            or a string alias ``keras.losses.get`` resolves.

    Returns:
        ``{"task": "classification" | "regression" | None, "binary": bool,
        "from_logits": bool}``; task None for a loss kmon does not know.
    """
    import keras

    if isinstance(loss, str):
        try:
            loss = keras.losses.get(loss)
        except ValueError:
            loss = None
    function = getattr(loss, "fn", loss)
    name = _keras_loss_name(function, keras)
    if name in CLASSIFICATION_LOSSES:
        task = CLASSIFICATION
    elif name in REGRESSION_LOSSES:
        task = REGRESSION
    else:
        task = None
    return {"task": task, "binary": name in BINARY_LOSSES, "from_logits": _from_logits(loss)}


def head_loss_kind(losses: list[Any]) -> dict[str, Any]:
    """What a head's losses (usually one) train it for: their common task, or None
    when they disagree or there is no loss."""
    kinds = [loss_kind(loss) for loss in losses]
    tasks = {kind["task"] for kind in kinds}
    return {
        "task": tasks.pop() if len(tasks) == 1 else None,
        "binary": bool(kinds) and all(kind["binary"] for kind in kinds),
        "from_logits": bool(kinds) and all(kind["from_logits"] for kind in kinds),
    }


def _keras_loss_name(function: Any, keras: Any) -> str | None:
    """The ``keras.losses`` function ``function`` is, by identity, or None."""
    for name in (*CLASSIFICATION_LOSSES, *REGRESSION_LOSSES):
        if function is getattr(keras.losses, name, None):
            return name
    return None


def _from_logits(loss: Any) -> bool:
    """Whether the loss reads its predictions as logits: the loss classes keep it as
    an attribute, a ``LossFunctionWrapper`` among the arguments it passes on."""
    value = getattr(loss, "from_logits", None)
    if value is None:
        value = (getattr(loss, "_fn_kwargs", None) or {}).get("from_logits", False)
    return bool(value)


def loss_identity(loss: Any) -> dict[str, Any]:
    """Exactly which Keras loss ``loss`` computes: its function and arguments.

    Args:
        loss: a compiled loss (a ``keras.losses.Loss``), a ``keras.losses`` function,
            or a string alias.

    Returns:
        ``{"function": name | None, "args": {...}, "reduction": str | None,
        "epsilon": float}``: ``function`` is the ``keras.losses`` function's name
        (None for a loss kmon does not know), ``args`` every keyword it is called
        with (its defaults filled in: ``from_logits``, ``label_smoothing``,
        ``delta``...), ``reduction`` the loss object's (how a batch's values are
        reduced), ``epsilon`` Keras's fuzz factor, which the losses clip with.
    """
    import keras

    if isinstance(loss, str):
        try:
            loss = keras.losses.get(loss)
        except ValueError:
            loss = None
    function = getattr(loss, "fn", loss)
    name = _keras_loss_name(function, keras)
    args: dict[str, Any] = {}
    if name is not None:
        try:
            parameters = inspect.signature(function).parameters.values()
        except (TypeError, ValueError):
            parameters = []
        args = {
            p.name: p.default
            for p in parameters
            if p.default is not inspect.Parameter.empty and _plain(p.default)
        }
        args.update(
            (key, value)
            for key, value in (getattr(loss, "_fn_kwargs", None) or {}).items()
            if _plain(value)
        )
    # A bare function (no Loss object around it) reduces as compile() wraps it.
    reduction = getattr(loss, "reduction", "sum_over_batch_size")
    return {
        "function": name,
        "args": args,
        "reduction": reduction if isinstance(reduction, str) or reduction is None else None,
        "epsilon": float(keras.config.epsilon()),
    }


def _plain(value: Any) -> bool:
    """A JSON-friendly argument (numbers, strings, bools, None)."""
    return value is None or isinstance(value, (bool, int, float, str))
