"""BucketSeries: bounded memory, extremes survive."""

from __future__ import annotations

import math
import time

import pytest

from kmon.engine.series import BucketSeries

MILLION = 1_000_000


def test_capacity_must_be_even_and_at_least_two():
    for bad in (0, 1, 3, 63):
        with pytest.raises(ValueError):
            BucketSeries(bad)
    BucketSeries(2)


def test_small_series_keeps_every_point():
    series = BucketSeries(8)
    series.extend([3.0, 1.0, 2.0])
    assert series.highs() == [3.0, 1.0, 2.0]
    assert series.lows() == [3.0, 1.0, 2.0]
    assert series.width == 1
    assert len(series) == 3
    assert (series.low, series.high, series.last) == (1.0, 3.0, 2.0)


def test_million_points_stay_bounded_and_keep_a_spike():
    series = BucketSeries(64)
    spike_at = 765_432
    append = series.append
    started = time.perf_counter()
    for i in range(MILLION):
        append(1000.0 if i == spike_at else (i % 10) / 10)
    elapsed = time.perf_counter() - started
    assert len(series) == MILLION
    assert len(series.buckets) <= 64
    assert sum(bucket.count for bucket in series.buckets) == MILLION
    highs = series.highs()
    assert len(highs) == len(series.buckets)
    assert max(highs) == 1000.0
    assert highs.count(1000.0) == 1
    # The spike sits in the bucket that covers its index.
    spiky = next(b for b in series.buckets if b.high == 1000.0)
    assert spiky.first_index <= spike_at < spiky.first_index + spiky.count
    assert series.high == 1000.0
    assert elapsed < 10.0  # ~1 s here; far more would mean per-point work grew


def test_buckets_tile_the_index_range_in_order():
    series = BucketSeries(16)
    series.extend(float(i) for i in range(1000))
    starts = [b.first_index for b in series.buckets]
    assert starts[0] == 0
    for bucket, following in zip(series.buckets, series.buckets[1:], strict=False):
        assert bucket.first_index + bucket.count == following.first_index
        assert bucket.low == bucket.first_index
        assert bucket.high == bucket.first_index + bucket.count - 1
        assert bucket.last == bucket.high
    assert sum(b.total for b in series.buckets) == sum(range(1000))
    assert series.buckets[-1].last == 999.0


def test_lows_keep_a_dip():
    series = BucketSeries(32)
    for i in range(100_000):
        series.append(-5.0 if i == 4_321 else 1.0 + (i % 3))
    lows = series.lows()
    assert len(lows) <= 32
    assert min(lows) == -5.0
    assert lows.count(-5.0) == 1
    assert series.low == -5.0
    assert max(series.highs()) == 3.0


def test_non_finite_values_are_counted_not_bucketed():
    series = BucketSeries(8)
    series.extend([1.0, math.nan, 2.0, math.inf, -math.inf, 3.0])
    assert series.non_finite == 3
    assert len(series) == 6
    values = series.highs() + series.lows()
    assert all(math.isfinite(v) for v in values)
    assert sum(b.count for b in series.buckets) == 3
    assert (series.low, series.high) == (1.0, 3.0)
    assert all(math.isfinite(b.total) for b in series.buckets)
    series.append(math.nan)
    assert math.isnan(series.last)


def test_non_finite_values_after_merging():
    series = BucketSeries(4)
    for i in range(1000):
        series.append(math.nan if i % 100 == 0 else float(i))
    assert series.non_finite == 10
    assert sum(b.count for b in series.buckets) == 990
    assert max(series.highs()) == 999.0
    assert min(series.lows()) == 1.0
    assert all(math.isfinite(b.mean) for b in series.buckets)


@pytest.mark.parametrize("columns", [1, 3, 7, 10, 33, 48])
def test_highs_resampled_to_columns_keep_global_max(columns):
    series = BucketSeries(64)
    peak_at = 12_345
    for i in range(50_000):
        series.append(99.0 if i == peak_at else math.sin(i / 100))
    assert len(series.buckets) > columns
    highs = series.highs(columns)
    lows = series.lows(columns)
    assert 0 < len(highs) <= columns
    assert 0 < len(lows) <= columns
    assert max(highs) == 99.0
    assert min(lows) == min(series.lows())


def test_resampling_with_more_columns_than_buckets_is_identity():
    series = BucketSeries(8)
    series.extend([1.0, 5.0, 2.0])
    assert series.highs(10) == [1.0, 5.0, 2.0]
    assert series.highs(3) == [1.0, 5.0, 2.0]
    assert series.highs(2) == [5.0, 2.0] or series.highs(2) == [1.0, 5.0]
    assert max(series.highs(2)) == 5.0
    assert series.highs(0) == [1.0, 5.0, 2.0]


def test_empty_series():
    series = BucketSeries()
    assert series.highs() == [] and series.lows(5) == []
    assert len(series) == 0 and series.last is None
