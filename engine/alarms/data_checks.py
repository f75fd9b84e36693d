"""Checks on training data at fit start: scale, feature ranges, NaN and Inf.

Plain numpy: the callback hands in samples of the inputs and targets (a few
thousand rows spread over the training set, or the first dataset batches).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kmon.engine.alarms.kinds import NONFINITE_DATA, UNSCALED_DATA
from kmon.engine.format import format_value

#: Defaults: a feature whose mean or standard deviation is beyond these is "raw units".
MEAN_LIMIT = 10.0
STD_LIMIT = 10.0
#: Largest over smallest per-feature standard deviation that still counts as one scale.
RANGE_RATIO = 1000.0
#: Values the scale statistics read at most: whole rows beyond it, evenly spread
#: (NaN and Inf are still counted over every value).
SCALE_VALUES = 1 << 18
#: Values of a feature-a-row float64 copy the statistics take at a time: under 128
#: KiB, what malloc hands out from its heap. A larger temporary is a fresh mapping
#: whose pages fault in one by one: 320 faults, 0.65 of the 0.85 ms these checks
#: took an MLP's fit start (4,096 rows of 20 features), at every fit.
CHUNK_VALUES = 15_000


@dataclass
class Finding:
    """One problem found in the data: an alarm ``kind``, a message, the numbers."""

    kind: str
    message: str
    evidence: dict[str, Any] = field(default_factory=dict)


@dataclass
class ArrayStats:
    name: str
    rows: int
    features: int
    nan: int = 0
    inf: int = 0
    max_abs_mean: float = 0.0
    mean_feature: int = 0
    max_std: float = 0.0
    std_feature: int = 0
    range_ratio: float = 1.0
    scaled: bool = True
    """False when the scale was not checked (integer ids, class labels)."""
    scale_rows: int = 0
    """Rows the scale statistics read, when fewer than :attr:`rows` (0: all of them);
    they read :data:`SCALE_VALUES` values at most."""


def _scale_rows(array: np.ndarray, rows: int) -> np.ndarray:
    """Whole rows, evenly spread, holding about :data:`SCALE_VALUES` values at most.

    A sample of a few thousand 32x32 colour images is 12 million values: their
    means and deviations over every pixel took a CNN's fit start 0.2-0.3 s, where
    a tenth of a million tell "raw pixels" from "standardized" as well. Whole rows
    (images), so no stride falls in step with an image's width.
    """
    if array.ndim == 0 or array.size <= SCALE_VALUES:
        return array
    step = -(-array.size // SCALE_VALUES)
    return array[::step] if step < rows else array[:1]


def array_stats(name: str, data: Any, *, check_scale: bool = True) -> ArrayStats | None:
    """Per-feature statistics of one array (features = last axis). None when the
    array is not numeric (strings, objects)."""
    try:
        array = np.asarray(data)
    except (TypeError, ValueError):
        return None
    if array.dtype.kind not in "biuf" or array.size == 0:
        return None
    rows = int(array.shape[0]) if array.ndim else 1
    if array.dtype.kind != "f":
        # Integer inputs are ids or labels (Embedding, lookups, class indices): their
        # scale means nothing. Integers cannot be NaN.
        features = int(array.shape[-1]) if array.ndim > 1 else 1
        return ArrayStats(name, rows, features, scaled=False)
    features = int(array.shape[-1]) if array.ndim > 1 else 1
    # NaN and Inf are counted over every value. A sum is finite only when every
    # value is (one that overflows is counted below, as one with NaN): no mask the
    # size of the sample (12 MB of an image sample's), and in the array's own
    # precision (float64 casts cost 3x the sum), float16's in float32.
    with np.errstate(all="ignore"):
        wide = np.float32 if array.dtype.itemsize < 4 else None
        all_finite = math.isfinite(float(array.sum(dtype=wide)))
    if all_finite:
        nan = inf = 0
    else:
        finite = np.isfinite(array)
        all_finite = bool(finite.all())
        nan = 0 if all_finite else int(np.isnan(array).sum())
        inf = 0 if all_finite else int(array.size - finite.sum() - nan)
    stats = ArrayStats(name, rows, features, nan=nan, inf=inf)
    if not check_scale:
        stats.scaled = False
        return stats
    scale = _scale_rows(array, rows)
    if scale is not array:
        stats.scale_rows = int(scale.shape[0])
    flat = scale.reshape(-1, features)
    with np.errstate(all="ignore"):
        if all_finite:
            means, stds = _feature_moments(flat)
        else:
            flat = np.where(np.isfinite(flat), flat, np.nan).astype(np.float64, copy=False)
            means = np.nanmean(flat, axis=0)
            stds = np.nanstd(flat, axis=0)
    means, stds = np.nan_to_num(means), np.nan_to_num(stds)
    stats.mean_feature = int(np.argmax(np.abs(means)))
    stats.max_abs_mean = float(abs(means[stats.mean_feature]))
    stats.std_feature = int(np.argmax(stds))
    stats.max_std = float(stds[stats.std_feature])
    varying = stds[stds > 1e-12]
    if varying.size > 1:
        stats.range_ratio = float(varying.max() / varying.min())
    return stats


def _feature_moments(flat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each feature's (column's) mean and standard deviation, in float64, as numpy's
    two passes give them (to rounding). A feature a contiguous row: numpy reduces a
    few wide columns (an image's 3 channels) along axis 0 about 5x slower (4.3
    against 0.8 ms for 800 images), on the training thread at each fit's start. In
    blocks of rows of :data:`CHUNK_VALUES` values."""
    rows, features = flat.shape
    step = max(1, CHUNK_VALUES // features)
    blocks = range(0, rows, step)
    sums = np.zeros(features)
    for start in blocks:
        sums += np.ascontiguousarray(flat[start : start + step].T, dtype=np.float64).sum(axis=1)
    means = sums / rows
    squares = np.zeros(features)
    # Each block is copied again, not kept from the first pass: kept, the blocks
    # would be the whole float64 copy again, on pages the heap grows into fresh.
    for start in blocks:
        block = np.ascontiguousarray(flat[start : start + step].T, dtype=np.float64)
        block -= means[:, None]
        squares += np.einsum("ij,ij->i", block, block)
    return means, np.sqrt(squares / rows)


def check_data(
    inputs: list[ArrayStats],
    targets: list[ArrayStats],
    *,
    mean_limit: float = MEAN_LIMIT,
    std_limit: float = STD_LIMIT,
    range_ratio: float = RANGE_RATIO,
) -> list[Finding]:
    """At most one ``unscaled_data`` and one ``nonfinite_data`` finding."""
    findings = []
    evidence: dict[str, Any] = {}
    parts = []
    for role, group in (("input", inputs), ("target", targets)):
        for stats in group:
            problems = _scale_problems(stats, mean_limit, std_limit, range_ratio)
            if not problems:
                continue
            prefix = f"{role} {stats.name}"
            parts.append(f"{prefix}: " + ", ".join(problems))
            evidence[f"{prefix} max |mean|"] = stats.max_abs_mean
            evidence[f"{prefix} max std"] = stats.max_std
            if stats.features > 1:
                evidence[f"{prefix} std ratio"] = stats.range_ratio
    if parts:
        rows = max((s.scale_rows or s.rows for s in inputs + targets), default=0)
        evidence["rows checked"] = rows
        findings.append(
            Finding(
                UNSCALED_DATA,
                "; ".join(parts) + " (standardized data has mean 0 and std 1 per feature)",
                evidence,
            )
        )
    bad = [s for s in inputs + targets if s.nan or s.inf]
    if bad:
        role = {id(s): "input" for s in inputs} | {id(s): "target" for s in targets}
        evidence = {}
        parts = []
        for stats in bad:
            prefix = f"{role[id(stats)]} {stats.name}"
            parts.append(f"{prefix}: {stats.nan:,} NaN, {stats.inf:,} Inf in {stats.rows:,} rows")
            evidence[f"{prefix} NaN"] = stats.nan
            evidence[f"{prefix} Inf"] = stats.inf
            evidence[f"{prefix} rows checked"] = stats.rows
        findings.append(
            Finding(NONFINITE_DATA, "NaN/Inf in the data: " + "; ".join(parts), evidence)
        )
    return findings


def _scale_problems(
    stats: ArrayStats, mean_limit: float, std_limit: float, range_ratio: float
) -> list[str]:
    if not stats.scaled:
        return []
    problems = []
    feature = f" (feature {stats.mean_feature})" if stats.features > 1 else ""
    if stats.max_abs_mean > mean_limit:
        problems.append(f"mean {format_value(stats.max_abs_mean)}{feature}")
    feature = f" (feature {stats.std_feature})" if stats.features > 1 else ""
    if stats.max_std > std_limit:
        problems.append(f"std {format_value(stats.max_std)}{feature}")
    if stats.range_ratio > range_ratio:
        problems.append(
            f"feature stds differ {format_value(stats.range_ratio)}x (largest over smallest)"
        )
    return problems
