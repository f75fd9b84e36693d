"""Which classes a classifier head predicts on the probe batch, against the classes
of its labels: the measurement behind the ``class_collapse`` alarm. Plain numpy.

A head's predicted class is the argmax of its outputs (softmax or logits alike), or
for one binary column the output above 0.5 (above 0 for logits, and for a hinge
loss, whose targets are -1 or 1). Labels are class indices (sparse) or one-hot rows
(argmax); binary labels count as class 1 above 0.5 (above 0 for hinge). Sequence
outputs count every time step as a sample.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from kmon.engine.alarms.probe_heads import Head


@dataclass
class ClassShares:
    """How a head's predictions and labels spread over the classes.

    Attributes:
        predicted: the class predicted most often.
        predicted_share: the share of samples it is predicted for.
        labels: ``(class, share)`` of the labels, most frequent first.
        samples: samples counted (samples times time steps for sequences).
    """

    predicted: int
    predicted_share: float
    labels: list[tuple[int, float]]
    samples: int

    def label_share(self, cls: int) -> float:
        return next((share for label, share in self.labels if label == cls), 0.0)


def class_shares(head: Head, pred: Any, target: Any) -> ClassShares | None:
    """The classes ``head`` predicts and its labels hold, or None when they cannot
    be read (not a classifier, several yes/no columns, shapes that do not match,
    outputs that are not finite)."""
    if not head.classification or target is None:
        return None
    p = np.asarray(pred, dtype=np.float64)
    t = np.asarray(target)
    if p.ndim == 0 or p.size == 0 or t.size == 0 or not np.isfinite(p).all():
        # NaN outputs (a diverged model) have no class: nan_loss says what happened.
        return None
    k = p.shape[-1] if p.ndim > 1 else 1
    hinge = "hinge" in head.loss.lower() and not head.binary
    if k == 1 and (head.binary or hinge):
        # Logits, and hinge outputs against -1/1 targets, split at 0.
        cut = 0.0 if head.from_logits or hinge else 0.5
        predicted = (p.reshape(-1) > cut).astype(np.int64)
        if t.size != predicted.size:
            return None
        labels = (t.reshape(-1).astype(np.float64) > (0.0 if hinge else 0.5)).astype(np.int64)
    elif k > 1 and not head.binary:
        predicted = p.reshape(-1, k).argmax(axis=1)
        if t.shape[-1:] == (k,) and t.size == p.size:
            labels = t.reshape(-1, k).argmax(axis=1)
        elif t.size * k == p.size:
            labels = t.reshape(-1).astype(np.int64)
        else:
            return None
    else:
        # Several yes/no columns (multi-label): a rare label is ordinary, not a collapse.
        return None
    counts = np.bincount(predicted)
    top = int(counts.argmax())
    values, label_counts = np.unique(labels, return_counts=True)
    order = np.argsort(-label_counts, kind="stable")
    n = int(predicted.size)
    return ClassShares(
        top,
        float(counts[top] / n),
        [(int(values[i]), float(label_counts[i] / n)) for i in order],
        n,
    )
