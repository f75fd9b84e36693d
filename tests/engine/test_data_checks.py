"""The data checks at the start of a fit, on the arrays' statistics alone: scale,
feature ranges, NaN and Inf, and the inputs that are not scale-checked."""

from __future__ import annotations

import numpy as np
import pytest

from kmon.engine.alarms.data_checks import SCALE_VALUES, array_stats, check_data


def findings(inputs, targets=(), **kwargs):
    return {
        f.kind: f
        for f in check_data(
            [array_stats(name, a) for name, a in inputs],
            [array_stats(name, a, check_scale=s) for name, a, s in targets],
            **kwargs,
        )
    }


def test_standardized_data_passes():
    rng = np.random.default_rng(0)
    assert (
        findings([("x", rng.normal(size=(500, 8)))], [("y", rng.normal(size=(500, 1)), True)]) == {}
    )


def test_raw_units_are_reported_with_the_numbers():
    rng = np.random.default_rng(0)
    x = rng.normal(3000, 600, size=(500, 24, 1))
    found = findings([("x", x)], [("out", rng.normal(3000, 600, size=(500, 1)), True)])
    unscaled = found["unscaled_data"]
    assert "input x: mean 3" in unscaled.message and "target out: mean 3" in unscaled.message
    assert unscaled.evidence["input x max |mean|"] == pytest.approx(3000, rel=0.05)
    assert unscaled.evidence["input x max std"] == pytest.approx(600, rel=0.1)


def test_features_on_very_different_ranges():
    rng = np.random.default_rng(0)
    x = np.stack([rng.normal(0, 1, 500), rng.normal(0, 1e-4, 500)], axis=1)
    found = findings([("x", x)])
    assert "feature stds differ" in found["unscaled_data"].message
    assert found["unscaled_data"].evidence["input x std ratio"] > 1000


def test_nan_and_inf_in_the_data():
    x = np.ones((100, 3))
    x[5, 1] = np.nan
    x[7, 2] = np.inf
    y = np.zeros((100, 1))
    y[0] = np.nan
    found = findings([("x", x)], [("out", y, True)])
    bad = found["nonfinite_data"]
    assert bad.evidence["input x NaN"] == 1 and bad.evidence["input x Inf"] == 1
    assert bad.evidence["target out NaN"] == 1
    assert "unscaled_data" not in found  # the finite values are fine


@pytest.mark.parametrize(("dtype", "big"), [("float32", 3e38), ("float16", 60000.0)])
def test_finite_values_whose_sum_overflows_are_not_counted_as_inf(dtype, big):
    # NaN and Inf are found by the sum of every value (no mask the sample's size),
    # counted one by one only where it is not finite: an overflow is not an Inf.
    x = np.full((64, 2), big, dtype=dtype)
    x[::2, 1] = 1.0
    stats = array_stats("x", x)
    assert (stats.nan, stats.inf) == (0, 0)
    assert stats.max_abs_mean == pytest.approx(float(np.float64(big)), rel=1e-6)
    x[3, 0] = np.inf
    assert (array_stats("x", x).nan, array_stats("x", x).inf) == (0, 1)


def test_the_statistics_read_in_blocks_fault_in_no_fresh_pages():
    # Each feature-a-row float64 block stays under malloc's 128 KiB mmap threshold:
    # a temporary above it is a fresh mapping whose pages fault in one by one, at
    # every fit's start (320 faults for 4,096 rows of 20 features).
    import resource

    x = np.random.default_rng(0).normal(size=(4096, 20)).astype("float32")
    array_stats("x", x)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(20):
        array_stats("x", x)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before < 20 * 20


def test_ids_and_class_labels_are_not_scale_checked():
    tokens = np.random.default_rng(0).integers(0, 20000, size=(100, 30))
    labels = np.arange(100, dtype="float32") % 1000
    assert findings([("tokens", tokens)], [("cls", labels, False)]) == {}


def test_a_large_image_sample_reads_every_value_for_nan_and_whole_rows_for_scale():
    # 2,000 raw 32x32 RGB images: 6 million values. NaN and Inf are counted over all
    # of them; the scale is read from whole images, evenly spread, and says so.
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(2000, 32, 32, 3)).astype("float32")
    images[1999, 31, 31, 2] = np.nan  # the last value of the last image
    images[7, 0, 0, 0] = np.inf
    stats = array_stats("x", images)
    assert (stats.rows, stats.features, stats.nan, stats.inf) == (2000, 3, 1, 1)
    assert 0 < stats.scale_rows < 2000
    assert stats.scale_rows * 32 * 32 * 3 <= SCALE_VALUES
    assert abs(stats.max_abs_mean - 127.5) < 2 and abs(stats.max_std - 73.9) < 2
    (finding, nonfinite) = check_data([stats], [])
    assert finding.kind == "unscaled_data"
    assert finding.evidence["rows checked"] == stats.scale_rows
    assert nonfinite.evidence["input x rows checked"] == 2000

    standardized = (images - 127.5) / 73.9
    standardized[np.isnan(standardized) | np.isinf(standardized)] = 0.0
    assert check_data([array_stats("x", standardized)], []) == []


def test_the_fit_start_sample_of_arrays_is_a_view_of_evenly_spread_rows():
    # Copied out, a few thousand 32x32 colour images were 50 MB at every fit start.
    from kmon.engine.alarms.probe_batch import FitData, probe_batches
    from kmon.engine.alarms.probe_config import ProbeConfig

    config = ProbeConfig()
    rows = 3 * config.data_rows + 5
    x = np.arange(rows * 4, dtype="float32").reshape(rows, 2, 2)
    y = np.arange(rows, dtype="float32")
    probe, sample, reason = probe_batches(FitData(x, y, samples=rows, batch_size=32), config)
    assert reason is None
    assert np.shares_memory(sample.x, x) and np.shares_memory(sample.y, y)
    assert sample.x.shape == (config.data_rows, 2, 2)
    assert list(sample.y[:3]) == [0.0, 3.0, 6.0] and sample.y[-1] == 3 * (config.data_rows - 1)
    # The probe batch is the model's input: its own rows, spread to the last.
    assert not np.shares_memory(probe.x, x) and probe.y[-1] == rows - 1
    # Fewer rows than the sample holds: all of them.
    _, small, _ = probe_batches(FitData(x[:10], y[:10], samples=10, batch_size=32), config)
    assert list(small.y) == list(range(10))


@pytest.mark.parametrize("shape", [(300, 32, 32, 3), (4000, 32), (50, 7)])
def test_the_scale_statistics_are_numpys_own_by_feature(shape):
    """Each feature's mean and deviation, read from a feature-a-row copy, are what
    numpy's reductions over the first axis give (to rounding), the largest found."""
    rng = np.random.default_rng(1)
    x = (rng.normal(size=shape) * rng.uniform(0.5, 80, size=shape[-1]) + 40).astype("float32")
    stats = array_stats("x", x)
    # Whole rows (images), evenly spread, beyond SCALE_VALUES values.
    rows = x[:: -(-x.size // SCALE_VALUES)] if x.size > SCALE_VALUES else x
    flat = rows.reshape(-1, shape[-1])
    means = np.abs(flat.mean(axis=0, dtype=np.float64))
    stds = flat.std(axis=0, dtype=np.float64)
    assert stats.mean_feature == int(np.argmax(means))
    assert stats.max_abs_mean == pytest.approx(means.max(), rel=1e-12)
    assert stats.std_feature == int(np.argmax(stds))
    assert stats.max_std == pytest.approx(stds.max(), rel=1e-12)
    assert stats.range_ratio == pytest.approx(stds.max() / stds.min(), rel=1e-12)
