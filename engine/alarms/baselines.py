"""Each head's constant-predictor baseline: the loss of the best prediction that
ignores the inputs, with the head's own loss as Keras computes it.

"Constant" means one prediction for every sample (for sequence or image outputs,
one per position: a constant may differ between time steps, never between
samples). Over a dataset Keras's loss is the weighted mean of the samples' losses
(``sum_over_batch_size`` divides the weighted sum by the number of values, not by
the weights' sum), so the best constant is the one minimizing the weighted sum,
position by position:

- mean squared error: the targets' weighted mean (the baseline is their variance);
  mean absolute error: their weighted median; MAPE: the median weighted by
  1/|target|; MSLE: the mean of log(1 + target); Poisson: the mean;
- Huber, log-cosh, hinge, squared hinge: a bisection on the derivative (each is
  convex in the constant);
- binary, categorical and sparse categorical cross-entropy: the label prior (the
  baseline is its entropy), as logits when the loss reads logits; KL divergence:
  the prior as a distribution; binary focal: a 1-D search over the probability;
  categorical hinge: all classes equal, or the majority class ahead by 1; cosine
  similarity: the targets' mean direction; generalized cross-entropy: the prior to
  the power 1/(1-q).

Every baseline's value is then computed by evaluating that constant with the
loss itself (:mod:`.loss_values`), so the number is the loss Keras would report
for it. Losses kmon does not know (custom ones, CTC, Dice, categorical focal),
reductions other than a mean, and heads with several losses are "unknown", with the
reason. Plain numpy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from kmon.engine.alarms.loss_values import (
    EPSILON,
    MEAN_REDUCTIONS,
    broadcast_weights,
    hinge_labels,
    ignored,
    per_sample,
    reduce,
    sparse_labels,
)

#: Target values read at most per head: more rows than this are thinned (the
#: bisections cost 64 passes over them).
MAX_VALUES = 1 << 18
#: Rows a sparse head's baseline reads at least, however many classes: the data
#: checks' rows.
MIN_ROWS = 4096
#: Losses whose targets are class indices: their constant has a value per class.
_CLASS_INDICES = frozenset({"sparse_categorical_crossentropy", "categorical_generalized_cross_entropy"})


@dataclass
class Baseline:
    """One head's constant-predictor loss.

    Attributes:
        value: the loss of the best constant, or None when unknown.
        method: how it was found, or why it is unknown.
        rows: target rows it was computed on.
        constant: one sample's prediction that achieves it (logits where the loss
            reads logits); None when unknown.
    """

    value: float | None
    method: str
    rows: int = 0
    constant: np.ndarray | None = None


class Unknown(Exception):
    """No baseline: the message says why."""


def head_baseline(identities: list[dict], y: Any, weights: Any = None) -> Baseline:
    """The baseline of a head trained with ``identities`` (its losses, as
    :func:`~kmon.engine.training.loss_kinds.loss_identity` says them) on targets ``y``
    with per-sample ``weights`` (None: all 1)."""
    rows = int(np.shape(y)[0]) if y is not None and np.ndim(y) else 0
    try:
        if y is None or rows == 0:
            raise Unknown("no targets")
        if len(identities) != 1:
            raise Unknown("no loss" if not identities else f"{len(identities)} losses on the head")
        identity = identities[0]
        name = identity.get("function")
        if name is None or name not in _CONSTANTS:
            raise Unknown("a loss kmon has no baseline for (custom, or without a closed form)")
        reduction = identity.get("reduction")
        if reduction not in MEAN_REDUCTIONS:
            raise Unknown(f"reduction={reduction!r}: the loss of a batch grows with its size")
        y = np.asarray(y)
        if y.dtype.kind not in "biuf":
            raise Unknown("targets are not numbers")
        step = max(1, math.ceil(y.size / MAX_VALUES))
        if name in _CLASS_INDICES and y.size:
            # A value per class a label: 60,000 labels of 1,000 classes took 6 s and
            # 1.4 GB. Thinned to MAX_VALUES of them, down to MIN_ROWS rows at most.
            classes = max(int(np.max(y)) + 1, 2)
            wide = math.ceil(y.size * classes / MAX_VALUES)
            step = max(step, min(wide, max(1, rows // MIN_ROWS)))
        if step > 1:
            y = y[::step]
            weights = None if weights is None else np.asarray(weights)[::step]
        rows = int(y.shape[0])
        if weights is not None:
            weights = np.asarray(weights, dtype=np.float64)
            if reduction == "mean_with_sample_weight" and np.ptp(weights) > 0:
                raise Unknown("reduction='mean_with_sample_weight' divides each batch by its weights")
        if not np.all(np.isfinite(y.astype(np.float64))):
            raise Unknown("targets are not finite")
        args = dict(identity.get("args") or {})
        eps = float(identity.get("epsilon") or EPSILON)
        with np.errstate(all="ignore"):
            constant, method = _CONSTANTS[name](y.astype(np.float64), weights, args, eps)
            prediction = np.broadcast_to(constant, (rows, *constant.shape))
            values = per_sample(identity, y, prediction)
            if values is None:
                raise Unknown("the targets' shape does not fit the loss")
            value = reduce(values, weights, ignored(identity, y))
    except Unknown as why:
        return Baseline(None, str(why), rows)
    except ValueError as exc:  # weights or shapes that do not fit
        return Baseline(None, f"targets and weights do not fit ({exc})", rows)
    if not math.isfinite(value):
        return Baseline(None, "not finite", rows)
    return Baseline(value, method, rows, np.asarray(constant))


def total_baseline(heads: list[tuple[float | None, Baseline | None]]) -> float | None:
    """The total's baseline, as Keras adds the heads: ``sum(weight * head)`` over the
    heads that have a loss; None unless every one of them is known."""
    total = 0.0
    for weight, baseline in heads:
        if baseline is None:
            continue  # no loss: the head adds nothing
        if weight is None or baseline.value is None:
            return None
        total += float(weight) * baseline.value
    return total if heads else None


# -- the best constant of each loss ------------------------------------------------------------


def _targets(y: np.ndarray) -> np.ndarray:
    """Targets with a feature axis: (N,) reads as (N, 1), as the losses pair it."""
    return y[:, None] if y.ndim == 1 else y


def _row_weights(weights, shape) -> np.ndarray:
    return np.ones(shape) if weights is None else broadcast_weights(weights, shape)


def _weighted_mean(values: np.ndarray, w: np.ndarray) -> np.ndarray:
    mass = w.sum(axis=0)
    if np.any(mass <= 0):
        raise Unknown("the sample weights sum to 0")
    return (values * w).sum(axis=0) / mass


def _weighted_median(values: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Per position (over rows): the lowest value where half the weight is reached."""
    flat_v = values.reshape(values.shape[0], -1)
    flat_w = w.reshape(w.shape[0], -1)
    order = np.argsort(flat_v, axis=0, kind="stable")
    sorted_v = np.take_along_axis(flat_v, order, axis=0)
    cumulative = np.cumsum(np.take_along_axis(flat_w, order, axis=0), axis=0)
    half = cumulative[-1] / 2.0
    index = np.argmax(cumulative >= half[None, :], axis=0)
    return sorted_v[index, np.arange(flat_v.shape[1])].reshape(values.shape[1:])


def _bisect(slope, low: np.ndarray, high: np.ndarray, steps: int = 64) -> np.ndarray:
    """Where the increasing ``slope`` (one value per position) crosses 0, between
    ``low`` and ``high``: the minimum of a convex function."""
    low, high = low.astype(np.float64).copy(), high.astype(np.float64).copy()
    for _ in range(steps):
        middle = (low + high) / 2.0
        rising = slope(middle) > 0
        high = np.where(rising, middle, high)
        low = np.where(rising, low, middle)
    return (low + high) / 2.0


def _mse(y, weights, args, eps):
    t = _targets(y)
    return _weighted_mean(t, _row_weights(weights, t.shape)), "the targets' variance (constant: their mean)"


def _mae(y, weights, args, eps):
    t = _targets(y)
    median = _weighted_median(t, _row_weights(weights, t.shape))
    return median, "mean absolute deviation from the targets' median"


def _mape(y, weights, args, eps):
    t = _targets(y)
    w = _row_weights(weights, t.shape) / np.maximum(np.abs(t), eps)
    return _weighted_median(t, w), "the median of the targets weighted by 1/|target|"


def _msle(y, weights, args, eps):
    t = _targets(y)
    logs = np.log(np.maximum(t, eps) + 1.0)
    constant = np.exp(_weighted_mean(logs, _row_weights(weights, t.shape))) - 1.0
    return constant, "the variance of log(1 + target) (constant: its mean)"


def _poisson(y, weights, args, eps):
    t = _targets(y)
    constant = _weighted_mean(t, _row_weights(weights, t.shape)) - eps
    if np.any(constant <= 0):
        raise Unknown("the targets' mean is not positive")
    return constant, "the targets' mean"


def _searched(slope_of):
    """A convex loss's constant by bisection; ``slope_of(t, w, args)`` returns the
    derivative's function and the bracket."""

    def constant(y, weights, args, eps):
        t = _targets(y)
        w = _row_weights(weights, t.shape)
        slope, low, high = slope_of(t, w, args)
        return _bisect(slope, low, high), "a bisection on the loss's derivative (convex)"

    return constant


def _huber_slope(t, w, args):
    delta = float(args.get("delta", 1.0))
    return (
        lambda c: (w * np.clip(c[None] - t, -delta, delta)).sum(axis=0),
        t.min(axis=0),
        t.max(axis=0),
    )


def _log_cosh_slope(t, w, args):
    return lambda c: (w * np.tanh(c[None] - t)).sum(axis=0), t.min(axis=0), t.max(axis=0)


def _hinge_bracket(t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    labels = hinge_labels(t)
    inverse = np.where(labels != 0, 1.0 / np.where(labels != 0, labels, 1.0), np.nan)
    low = np.nan_to_num(np.nanmin(inverse, axis=0), nan=0.0)
    high = np.nan_to_num(np.nanmax(inverse, axis=0), nan=0.0)
    return labels, low, high


def _hinge_slope(t, w, args):
    labels, low, high = _hinge_bracket(t)
    return lambda c: -(w * labels * (1.0 - labels * c[None] > 0)).sum(axis=0), low, high


def _squared_hinge_slope(t, w, args):
    labels, low, high = _hinge_bracket(t)
    return (
        lambda c: -(w * labels * np.maximum(1.0 - labels * c[None], 0.0)).sum(axis=0),
        low,
        high,
    )


def _bce(y, weights, args, eps):
    t = _targets(y)
    smoothing = float(args.get("label_smoothing") or 0.0)
    labels = t * (1.0 - smoothing) + 0.5 * smoothing if smoothing else t
    prior = _weighted_mean(labels, _row_weights(weights, t.shape))
    method = "the entropy of the label prior"
    if args.get("from_logits"):
        prior = np.clip(prior, 1e-15, 1.0 - 1e-15)
        return np.log(prior) - np.log1p(-prior), method + " (as logits)"
    return prior, method


def _binary_focal(y, weights, args, eps):
    """The focal factor makes no closed form: a grid over the logit, then a golden
    section search around its best point (one per position)."""
    t = _targets(y)
    w = _row_weights(weights, t.shape)
    identity = {"function": "binary_focal_crossentropy", "epsilon": eps}
    identity["args"] = {**args, "from_logits": True}

    def cost(z: np.ndarray) -> np.ndarray:
        values = per_sample(identity, t[..., None], np.broadcast_to(z, t.shape)[..., None])
        return (values * w).sum(axis=0)

    grid = np.linspace(-16.0, 16.0, 129)
    costs = np.stack([cost(np.full(t.shape[1:], z)) for z in grid])
    best = costs.argmin(axis=0)
    low, high = grid[np.maximum(best - 1, 0)], grid[np.minimum(best + 1, grid.size - 1)]
    ratio = (math.sqrt(5.0) - 1.0) / 2.0
    for _ in range(60):
        a, b = high - ratio * (high - low), low + ratio * (high - low)
        left = cost(a) <= cost(b)
        high, low = np.where(left, b, high), np.where(left, low, a)
    z = (low + high) / 2.0
    constant = z if args.get("from_logits") else 1.0 / (1.0 + np.exp(-z))
    return constant, "a 1-D search over the predicted probability"


def _distribution(prior: np.ndarray, from_logits: bool) -> np.ndarray:
    """A prior over the last axis as the prediction: probabilities, or logits."""
    prior = prior / prior.sum(axis=-1, keepdims=True)
    return np.log(np.maximum(prior, 1e-30)) if from_logits else prior


def _cce(y, weights, args, eps):
    if y.ndim < 2:
        raise Unknown("categorical targets need a class axis")
    smoothing = float(args.get("label_smoothing") or 0.0)
    labels = y * (1.0 - smoothing) + smoothing / y.shape[-1] if smoothing else y
    prior = _weighted_mean(labels, _row_weights(weights, y.shape))
    method = "the entropy of the class prior" + (" (as logits)" if args.get("from_logits") else "")
    return _distribution(prior, bool(args.get("from_logits"))), method


def _class_prior(y, weights, args) -> np.ndarray:
    """Per position, each class's share of the weight (ignored labels left out)."""
    labels = sparse_labels(y)
    if labels.min(initial=0) < 0 and args.get("ignore_class") is None:
        raise Unknown("negative class labels")
    keep = labels != args["ignore_class"] if args.get("ignore_class") is not None else None
    classes = int(labels[keep].max() if keep is not None else labels.max()) + 1
    w = _row_weights(weights, labels.shape)
    if keep is not None:
        w = w * keep
        labels = np.where(keep, labels, 0)
    one_hot = np.zeros((*labels.shape, max(classes, 2)))
    np.put_along_axis(one_hot, labels[..., None], 1.0, axis=-1)
    prior = (one_hot * w[..., None]).sum(axis=0)
    if np.any(prior.sum(axis=-1) <= 0):
        raise Unknown("no weighted labels at some position")
    return prior / prior.sum(axis=-1, keepdims=True)


def _sparse_cce(y, weights, args, eps):
    prior = _class_prior(y, weights, args)
    method = "the entropy of the class prior" + (" (as logits)" if args.get("from_logits") else "")
    return _distribution(prior, bool(args.get("from_logits"))), method


def _kld(y, weights, args, eps):
    if y.ndim < 2:
        raise Unknown("KL divergence needs a distribution axis")
    prior = _weighted_mean(np.clip(y, eps, 1.0), _row_weights(weights, y.shape))
    return _distribution(prior, False), "the targets' mean distribution (a softmax output)"


def _categorical_hinge(y, weights, args, eps):
    one_hot = y.ndim >= 2 and np.all((y == 0) | (y == 1)) and np.all(y.sum(axis=-1) == 1)
    if not one_hot:
        raise Unknown("categorical hinge with targets that are not one-hot")
    mass = (y * _row_weights(weights, y.shape)).sum(axis=0)
    total = mass.sum(axis=-1, keepdims=True)
    top = mass.argmax(axis=-1)
    ahead = 2.0 * (total[..., 0] - mass.max(axis=-1)) < total[..., 0]
    constant = np.zeros(y.shape[1:])
    np.put_along_axis(constant, top[..., None], ahead[..., None].astype(np.float64), axis=-1)
    return constant, "the better of: all classes equal, the majority class ahead by 1"


def _cosine(y, weights, args, eps):
    t = _targets(y)
    unit = t / np.sqrt(np.maximum(np.sum(np.square(t), axis=-1, keepdims=True), 1e-12))
    direction = (unit * _row_weights(weights, t.shape)).sum(axis=0)
    return direction, "the targets' mean direction"


def _generalized_ce(y, weights, args, eps):
    prior = _class_prior(y, weights, {})
    q = float(args.get("q", 0.5))
    if 0 < q < 1:
        constant = prior ** (1.0 / (1.0 - q))
        return constant / constant.sum(axis=-1, keepdims=True), "the class prior to 1/(1-q)"
    constant = np.zeros_like(prior)
    np.put_along_axis(constant, prior.argmax(axis=-1)[..., None], 1.0, axis=-1)
    return constant, "the majority class"


_CONSTANTS = {
    "mean_squared_error": _mse,
    "mean_absolute_error": _mae,
    "mean_absolute_percentage_error": _mape,
    "mean_squared_logarithmic_error": _msle,
    "poisson": _poisson,
    "huber": _searched(_huber_slope),
    "log_cosh": _searched(_log_cosh_slope),
    "hinge": _searched(_hinge_slope),
    "squared_hinge": _searched(_squared_hinge_slope),
    "binary_crossentropy": _bce,
    "binary_focal_crossentropy": _binary_focal,
    "categorical_crossentropy": _cce,
    "sparse_categorical_crossentropy": _sparse_cce,
    "kl_divergence": _kld,
    "categorical_hinge": _categorical_hinge,
    "cosine_similarity": _cosine,
    "categorical_generalized_cross_entropy": _generalized_ce,
}
