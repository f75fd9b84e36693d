"""Prediction spread: how much one head's predictions vary across the probe samples,
against its targets' spread (regression) or in log-probabilities (classifiers)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from kmon.engine.alarms.probe_heads import Head


@dataclass
class Spread:
    """How much one head's predictions vary across the probe samples.

    ``ratio`` is the predictions' standard deviation over the targets' (mean over
    output columns; for sequence outputs, over samples and time steps together).
    For classifiers it is the spread of log-probabilities across samples, in nats:
    one-hot targets have no natural scale to compare with, and a classifier that
    outputs the same distribution for every input has 0.
    """

    ratio: float
    pred_std: float
    target_std: float | None
    measure: str
    constant_target: bool = False
    target_mean: float | None = None


def spread(head: Head, pred: Any, target: Any) -> Spread | None:
    """None when the shapes cannot be compared."""
    p = np.asarray(pred, dtype=np.float64)
    if p.ndim == 0 or p.shape[0] < 2:
        return None
    cols = p.reshape(-1, p.shape[-1]) if p.ndim > 1 else p.reshape(-1, 1)
    if head.classification:
        return _class_spread(head, cols, target)
    if target is None:
        return None
    t = np.asarray(target, dtype=np.float64)
    if t.size != p.size:
        return None
    t = t.reshape(cols.shape)
    with np.errstate(all="ignore"):
        t_std = t.std(axis=0)
        t_mean = t.mean(axis=0)
        p_std = cols.std(axis=0)
    varying = t_std > 1e-8 + 1e-6 * np.abs(t_mean)
    if not varying.any():
        return Spread(
            math.nan,
            float(p_std.mean()),
            float(t_std.mean()),
            "std ratio",
            True,
            float(t_mean.mean()),
        )
    ratio = float(np.mean(p_std[varying] / t_std[varying]))
    return Spread(
        ratio,
        float(p_std[varying].mean()),
        float(t_std[varying].mean()),
        "std ratio",
        target_mean=float(t_mean[varying].mean()),
    )


def _class_spread(head: Head, cols: np.ndarray, target: Any) -> Spread:
    k = cols.shape[1]
    if head.from_logits:
        if k == 1 or head.binary:
            logp = np.concatenate([-np.logaddexp(0, -cols), -np.logaddexp(0, cols)], axis=1)
        else:
            logp = cols - _logsumexp(cols)
    else:
        clipped = np.clip(cols, 1e-7, 1 - 1e-7)
        if k == 1 or head.binary:
            logp = np.concatenate([np.log(clipped), np.log1p(-clipped)], axis=1)
        else:
            logp = np.log(clipped)
    with np.errstate(all="ignore"):
        value = float(logp.std(axis=0).mean())
    classes = _distinct_classes(target, k, head.binary) if target is not None else None
    return Spread(
        value,
        value,
        None,
        "log-probability spread (nats)",
        constant_target=classes is not None and classes <= 1,
    )


def _logsumexp(cols: np.ndarray) -> np.ndarray:
    top = cols.max(axis=1, keepdims=True)
    return top + np.log(np.exp(cols - top).sum(axis=1, keepdims=True))


def _distinct_classes(target: Any, k: int, binary: bool) -> int | None:
    t = np.asarray(target)
    if t.size == 0:
        return None
    if k > 1 and not binary and t.ndim >= 1 and t.shape[-1] == k and t.size > k:
        labels = t.reshape(-1, k).argmax(axis=1)
    else:
        labels = np.round(t.reshape(-1).astype(np.float64))
    return int(np.unique(labels).size)

