"""The data alarms of a fit's start, ``unscaled_data`` and ``nonfinite_data``: a
sample of what ``fit()`` trains on, its targets split by head, checked by
:mod:`.data_checks`, and each alarm raised or cleared in the run's book."""

from __future__ import annotations

from typing import Any

from kmon.engine.alarms.arrays_seen import ArraysSeen
from kmon.engine.alarms.book import AlarmBook
from kmon.engine.alarms.data_checks import ArrayStats, array_stats, check_data
from kmon.engine.alarms.kinds import ERROR, NONFINITE_DATA, UNSCALED_DATA
from kmon.engine.alarms.probe_batch import ProbeBatch, leaves
from kmon.engine.alarms.probe_heads import Head, by_head, inputs_self_normalized


def judge_data(
    book: AlarmBook,
    fit: int,
    model: Any,
    heads: list[Head],
    sample: ProbeBatch,
    seen: ArraysSeen | None = None,
) -> None:
    """Check fit ``fit``'s data ``sample`` and raise or clear its alarms in ``book``.

    The inputs' scale is not checked when ``model`` scales its own inputs, nor a
    classifier head's targets' (class labels); NaN and Inf always are. With
    ``seen``, the statistics of an earlier fit's same arrays, unchanged, are read
    again, not worked out (every value of a sample of images: 3 ms a fit).
    """
    scaled_inputs = inputs_self_normalized(model) is None
    extra = ("data stats", scaled_inputs, tuple((h.name, h.classification) for h in heads))
    inputs, targets = (
        seen.recall((sample.x, sample.y), extra, lambda: _stats(heads, sample, scaled_inputs))
        if seen is not None
        else _stats(heads, sample, scaled_inputs)
    )
    findings = {f.kind: f for f in check_data([s for s in inputs if s], [s for s in targets if s])}
    for kind in (UNSCALED_DATA, NONFINITE_DATA):
        finding = findings.get(kind)
        if finding is not None:
            severity = ERROR if kind == NONFINITE_DATA else "warning"
            book.raise_(kind, finding.message, finding.evidence, severity=severity, fit=fit)
        else:
            book.clear(kind, f"fit {fit}: the data checks pass", {}, fit=fit)


def _stats(
    heads: list[Head], sample: ProbeBatch, scaled_inputs: bool
) -> tuple[list[ArrayStats | None], list[ArrayStats | None]]:
    """The statistics of the sample's inputs, and of its targets by head."""
    inputs = [
        array_stats(name, value, check_scale=scaled_inputs) for name, value in leaves(sample.x, "x")
    ]
    targets = []
    if sample.y is not None:
        names = [head.name for head in heads]
        for head, target in zip(heads, by_head(names, sample.y)):
            if target is not None:
                targets.append(array_stats(head.name, target, check_scale=not head.classification))
    return inputs, targets
