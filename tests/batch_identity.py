"""Checks that recovered per-batch values are right without retraining anything.

History's value of a key is its running mean at the epoch's last batch, so the
values kmon recovered must average back to it, weighted as the key's kind says
(samples for ``mean``, steps for ``step_mean``, squares for ``rms``). A value
outside its loss's range (a negative loss) is wrong whatever the identity says.
"""

from __future__ import annotations

import math
from collections import defaultdict

import pytest

RTOL = 1e-4


def kinds_of(events, fit: int) -> dict[str, str]:
    (kinds,) = [e for e in events if e.type == "value_kinds" and e.fit == fit]
    return kinds.kinds


def batches_by_epoch(events, fit: int) -> dict[int, list]:
    found = defaultdict(list)
    for event in events:
        if event.type == "batch" and event.fit == fit:
            found[event.epoch].append(event)
    return found


def history(events, fit: int) -> dict[int, dict[str, float]]:
    return {e.epoch: e.logs for e in events if e.type == "epoch_end" and e.fit == fit}


def assert_values_average_to_history(events, fit: int) -> int:
    """Every recoverable key of every epoch of ``fit`` averages back to History.
    Returns how many (epoch, key) pairs were checked."""
    kinds, logs = kinds_of(events, fit), history(events, fit)
    checked = 0
    for epoch, batches in batches_by_epoch(events, fit).items():
        for key, kind in kinds.items():
            values = [b.values[key] for b in batches]
            if kind.startswith("not recoverable"):
                assert values == [None] * len(values), (key, values)
                continue
            assert None not in values, (key, values)
            sizes = [b.size for b in batches]
            if kind == "step_mean":
                mean = sum(values) / len(values)
            elif kind == "rms":
                mean = math.sqrt(sum(v * v * n for v, n in zip(values, sizes)) / sum(sizes))
            else:
                mean = sum(v * n for v, n in zip(values, sizes)) / sum(sizes)
            assert mean == pytest.approx(logs[epoch][key], rel=RTOL), (epoch, key, kind)
            checked += 1
    return checked


def recovered(events, fit: int, key: str) -> list[float]:
    return [
        e.values[key]
        for e in events
        if e.type == "batch" and e.fit == fit and e.values and e.values.get(key) is not None
    ]
