"""Keras's built-in losses in numpy: each sample's loss and the batch reduction, as
Keras 3.15 computes them, for the constant-predictor baselines (:mod:`.baselines`)
and the heads' losses on the probe batch.

A loss is named by its identity (:func:`kmon.engine.training.loss_kinds.loss_identity`):
``{"function": "huber", "args": {"delta": 1.0}, "reduction": ..., "epsilon": 1e-7}``.
Each function below follows ``keras/src/losses/losses.py`` and the TensorFlow
backend's cross-entropies line by line (the clipping included); one difference is
kept on purpose: when a sigmoid or softmax output meets a probability loss, Keras
reads the logits under the activation, which predictions do not carry, so a
probability saturated beyond ``epsilon`` is clipped here. ``tests/engine/
test_baselines.py`` checks every one against Keras's own loss. Plain numpy.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

#: ``keras.config.epsilon()``'s default, for identities that do not carry their own.
EPSILON = 1e-7

#: Reductions whose value over a dataset is the weighted mean of its samples' losses.
MEAN_REDUCTIONS = ("sum_over_batch_size", "mean", "mean_with_sample_weight")


def per_sample(identity: dict[str, Any], y: Any, pred: Any) -> np.ndarray | None:
    """The loss of each sample (and time step) before reduction, as Keras's loss
    function returns it; None for a loss this module does not compute or shapes
    that do not fit."""
    function = _FUNCTIONS.get(identity.get("function") or "")
    if function is None:
        return None
    args = dict(identity.get("args") or {})
    eps = float(identity.get("epsilon") or EPSILON)
    y = np.asarray(y, dtype=np.float64)
    p = np.asarray(pred, dtype=np.float64)
    try:
        with np.errstate(all="ignore"):
            return function(y, p, args, eps)
    except (ValueError, IndexError):
        return None


def reduce(
    values: np.ndarray, weights: np.ndarray | None = None, mask: np.ndarray | None = None
) -> float:
    """Keras's ``sum_over_batch_size``: the weighted sum over the number of values
    (not over the sum of the weights: a weight of 2 counts a sample twice); with a
    mask (``ignore_class``), over the number of values kept."""
    w = np.ones_like(values) if weights is None else broadcast_weights(weights, values.shape)
    if mask is not None:
        w = w * mask
        count = float(mask.sum())
    else:
        count = float(values.size)
    return float(np.sum(values * w) / count) if count else math.nan


def broadcast_weights(weights: Any, shape: tuple[int, ...]) -> np.ndarray:
    """Per-sample (or per-step) weights spread over ``shape``'s trailing axes.

    Raises:
        ValueError: the weights do not fit the values.
    """
    w = np.asarray(weights, dtype=np.float64)
    while w.ndim > len(shape) and w.shape[-1] == 1:
        w = w[..., 0]
    return np.broadcast_to(w.reshape(w.shape + (1,) * (len(shape) - w.ndim)), shape)


def class_weights_to_sample_weights(y: Any, class_weight: dict) -> np.ndarray:
    """``fit(class_weight=...)`` as the per-sample weights Keras makes of it
    (``data_adapter_utils.class_weight_to_sample_weights``): the class of a one-hot
    row is its argmax, a single column is rounded; classes not named weigh 1."""
    labels = np.asarray(y)
    if labels.ndim > 1:
        labels = labels.argmax(axis=-1) if labels.shape[-1] != 1 else labels[..., 0]
    labels = np.round(labels.astype(np.float64)).astype(np.int64)
    weights = np.ones(labels.shape[0], dtype=np.float64)
    for i, label in enumerate(labels.reshape(labels.shape[0], -1)[:, 0]):
        weights[i] = float(class_weight.get(int(label), 1.0))
    return weights


def ignored(identity: dict[str, Any], y: Any) -> np.ndarray | None:
    """The mask of the labels ``sparse_categorical_crossentropy(ignore_class=...)``
    keeps (1) and ignores (0), shaped like its per-sample values; None when no class
    is ignored."""
    ignore = (identity.get("args") or {}).get("ignore_class")
    if identity.get("function") != "sparse_categorical_crossentropy" or ignore is None:
        return None
    return (sparse_labels(np.asarray(y)) != ignore).astype(np.float64)


def sparse_labels(y: np.ndarray) -> np.ndarray:
    """Integer labels without a trailing axis of 1, as the sparse losses read them."""
    if y.ndim >= 2 and y.shape[-1] == 1:
        y = y[..., 0]
    return np.asarray(y).astype(np.int64)


def same_rank(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Keras's ``squeeze_or_expand_to_same_rank``: a trailing axis of 1 on one side."""
    if y.ndim == p.ndim + 1 and y.shape[-1] == 1:
        y = y[..., 0] if p.ndim != 1 else y
        if p.ndim == 1:
            p = p[:, None]
    elif p.ndim == y.ndim + 1 and p.shape[-1] == 1:
        if y.ndim == 1:
            y = y[:, None]
        else:
            p = p[..., 0]
    return y, p


def mean_prediction(identity: dict[str, Any], pred: Any) -> np.ndarray:
    """The predictions with what depends on the input taken out: their mean over the
    samples, one per output position (probabilities averaged, then back to logits
    where the loss reads logits). Its loss against the head's own tells how much the
    head gains from its inputs; a constant output gains nothing."""
    p = np.asarray(pred, dtype=np.float64)
    logits = bool((identity.get("args") or {}).get("from_logits"))
    name = identity.get("function")
    if logits and name in ("binary_crossentropy", "binary_focal_crossentropy"):
        probability = np.clip(np.mean(1.0 / (1.0 + np.exp(-p)), axis=0), 1e-15, 1 - 1e-15)
        return np.log(probability) - np.log1p(-probability)
    if logits and name in ("categorical_crossentropy", "sparse_categorical_crossentropy"):
        return np.log(np.maximum(np.mean(np.exp(log_softmax(p)), axis=0), 1e-30))
    return np.mean(p, axis=0)


# -- the losses ------------------------------------------------------------------------------


def _mse(y, p, args, eps):
    y, p = same_rank(y, p)
    return np.mean(np.square(y - p), axis=-1)


def _mae(y, p, args, eps):
    y, p = same_rank(y, p)
    return np.mean(np.abs(y - p), axis=-1)


def _mape(y, p, args, eps):
    y, p = same_rank(y, p)
    return 100.0 * np.mean(np.abs((y - p) / np.maximum(np.abs(y), eps)), axis=-1)


def _msle(y, p, args, eps):
    y, p = same_rank(y, p)
    first = np.log(np.maximum(p, eps) + 1.0)
    second = np.log(np.maximum(y, eps) + 1.0)
    return np.mean(np.square(first - second), axis=-1)


def _huber(y, p, args, eps):
    y, p = same_rank(y, p)
    delta = float(args.get("delta", 1.0))
    error = np.abs(p - y)
    return np.mean(
        np.where(error <= delta, 0.5 * np.square(error), delta * error - 0.5 * delta**2), axis=-1
    )


def _log_cosh(y, p, args, eps):
    y, p = same_rank(y, p)
    x = p - y
    return np.mean(x + np.logaddexp(0.0, -2.0 * x) - math.log(2.0), axis=-1)


def _poisson(y, p, args, eps):
    y, p = same_rank(y, p)
    return np.mean(p - y * np.log(p + eps), axis=-1)


def _cosine(y, p, args, eps):
    y, p = same_rank(y, p)
    return -np.sum(_l2_normalize(y) * _l2_normalize(p), axis=-1)


def _l2_normalize(x: np.ndarray) -> np.ndarray:
    # keras.ops.normalize: x / sqrt(max(sum(x²), 1e-12)) on the TensorFlow backend.
    return x / np.sqrt(np.maximum(np.sum(np.square(x), axis=-1, keepdims=True), 1e-12))


def hinge_labels(y: np.ndarray) -> np.ndarray:
    """Labels 0/1 become -1/+1 (``convert_binary_labels_to_hinge``); others stay."""
    return 2.0 * y - 1.0 if np.all((y == 0) | (y == 1)) else y


def _hinge(y, p, args, eps):
    y, p = same_rank(y, p)
    return np.mean(np.maximum(1.0 - hinge_labels(y) * p, 0.0), axis=-1)


def _squared_hinge(y, p, args, eps):
    y, p = same_rank(y, p)
    return np.mean(np.square(np.maximum(1.0 - hinge_labels(y) * p, 0.0)), axis=-1)


def _categorical_hinge(y, p, args, eps):
    pos = np.sum(y * p, axis=-1)
    neg = np.max((1.0 - y) * p, axis=-1)
    return np.maximum(neg - pos + 1.0, 0.0)


def _kld(y, p, args, eps):
    y = np.clip(y, eps, 1.0)
    p = np.clip(p, eps, 1.0)
    return np.sum(y * np.log(y / p), axis=-1)


def _smoothed_binary(y, args):
    smoothing = float(args.get("label_smoothing") or 0.0)
    return y * (1.0 - smoothing) + 0.5 * smoothing if smoothing else y


def binary_cross_entropy(y: np.ndarray, p: np.ndarray, from_logits: bool, eps: float):
    """Each element's binary cross-entropy (the TensorFlow backend's formula)."""
    if from_logits:
        return np.maximum(p, 0.0) - p * y + np.log1p(np.exp(-np.abs(p)))
    p = np.clip(p, eps, 1.0 - eps)
    return -(y * np.log(p) + (1.0 - y) * np.log(1.0 - p))


def _bce(y, p, args, eps):
    y, p = _binary_shapes(y, p)
    y = _smoothed_binary(y, args)
    return np.mean(binary_cross_entropy(y, p, bool(args.get("from_logits")), eps), axis=-1)


def _binary_focal(y, p, args, eps):
    y, p = _binary_shapes(y, p)
    y = _smoothed_binary(y, args)
    if args.get("from_logits"):
        p = 1.0 / (1.0 + np.exp(-p))
    bce = binary_cross_entropy(y, p, False, eps)
    p_t = y * p + (1.0 - y) * (1.0 - p)
    focal = np.power(1.0 - p_t, float(args.get("gamma", 2.0))) * bce
    if args.get("apply_class_balancing"):
        alpha = float(args.get("alpha", 0.25))
        focal = (y * alpha + (1.0 - y) * (1.0 - alpha)) * focal
    return np.mean(focal, axis=-1)


def _binary_shapes(y, p):
    """A target of shape (N,) against predictions (N, 1), as compile() pairs them."""
    if y.ndim == p.ndim - 1 and p.shape[-1] == 1:
        y = y[..., None]
    if y.shape != p.shape:
        raise ValueError("shapes differ")
    return y, p


def log_softmax(z: np.ndarray) -> np.ndarray:
    top = np.max(z, axis=-1, keepdims=True)
    shifted = z - top
    return shifted - np.log(np.sum(np.exp(shifted), axis=-1, keepdims=True))


def _cce(y, p, args, eps):
    if y.shape != p.shape:
        raise ValueError("shapes differ")
    smoothing = float(args.get("label_smoothing") or 0.0)
    if smoothing:
        y = y * (1.0 - smoothing) + smoothing / y.shape[-1]
    if args.get("from_logits"):
        return -np.sum(y * log_softmax(p), axis=-1)
    p = np.clip(p / np.sum(p, axis=-1, keepdims=True), eps, 1.0 - eps)
    return -np.sum(y * np.log(p), axis=-1)


def _sparse_cce(y, p, args, eps):
    labels = sparse_labels(y)
    ignore = args.get("ignore_class")
    keep = labels != ignore if ignore is not None else None
    if keep is not None:
        labels = np.where(keep, labels, 0)
    logits = p if args.get("from_logits") else np.log(np.clip(p, eps, 1.0 - eps))
    if labels.shape != logits.shape[:-1] or labels.max(initial=0) >= logits.shape[-1]:
        raise ValueError("labels do not fit the predictions")
    values = -np.take_along_axis(log_softmax(logits), labels[..., None], axis=-1)[..., 0]
    return np.where(keep, values, 0.0) if keep is not None else values


def _generalized_ce(y, p, args, eps):
    # No trailing axis of 1 dropped: Keras one-hot encodes (N, 1) labels to (N, 1, K),
    # which pairs every sample with every prediction.
    labels = y.astype(np.int64)
    if labels.shape != p.shape[:-1]:
        raise ValueError("labels do not fit the predictions")
    q = float(args.get("q", 0.5))
    chosen = np.take_along_axis(p, labels[..., None], axis=-1)[..., 0]
    return (1.0 - np.power(chosen, q)) / q


_FUNCTIONS: dict[str, Callable[[np.ndarray, np.ndarray, dict, float], np.ndarray]] = {
    "mean_squared_error": _mse,
    "mean_absolute_error": _mae,
    "mean_absolute_percentage_error": _mape,
    "mean_squared_logarithmic_error": _msle,
    "huber": _huber,
    "log_cosh": _log_cosh,
    "poisson": _poisson,
    "cosine_similarity": _cosine,
    "hinge": _hinge,
    "squared_hinge": _squared_hinge,
    "categorical_hinge": _categorical_hinge,
    "kl_divergence": _kld,
    "binary_crossentropy": _bce,
    "binary_focal_crossentropy": _binary_focal,
    "categorical_crossentropy": _cce,
    "sparse_categorical_crossentropy": _sparse_cce,
    "categorical_generalized_cross_entropy": _generalized_ce,
}

#: The losses :func:`per_sample` computes.
KNOWN = frozenset(_FUNCTIONS)
