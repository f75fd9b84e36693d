"""The replay's columnar path: a log's runs of batch lines decoded for their key set
(engine/log/column_decode.py) and folded by columns (engine/view/column_fold.py)
give exactly the state that folding every batch event one by one gives, on a real
fit's log and on odd ones; and the columnar path is the one taken."""

from __future__ import annotations

import math
from dataclasses import astuple

import numpy as np
import pytest
from fit_logs import write_tiny_fit_log
from test_fast_decode import _fold_one_by_one, _snapshot

from kmon.engine.log.eventlog import EventLogReader, read_events
from kmon.engine.series import BucketSeries, SmoothedSeries
from kmon.engine.view import batch_fold, bucket_arrays, column_fold
from kmon.engine.view.bucket_arrays import add_smoothed_array, extend_array
from kmon.engine.view.state import RunState


@pytest.fixture
def counted(monkeypatch):
    """Runs folded from the reader's columns ("blocks"), from the lines' columns
    ("lines"), and by neither ("neither")."""
    taken = {"blocks": 0, "lines": 0, "neither": 0}
    blocks, lines = column_fold.fold_column_blocks, column_fold.fold_column_run

    def by_blocks(state, run):
        done = blocks(state, run)
        taken["blocks"] += done
        return done

    def by_lines(state, run_lines):
        done = lines(state, run_lines)
        taken["lines" if done else "neither"] += 1
        return done

    monkeypatch.setattr(batch_fold, "fold_column_blocks", by_blocks)
    monkeypatch.setattr(batch_fold, "fold_column_run", by_lines)
    return taken


def _replayed(path, chunk: int = 64 * 1024) -> RunState:
    """The log folded as a replay reads it: runs of batch lines, chunk by chunk."""
    reader = EventLogReader(path, batch_runs=True)
    state = RunState()
    while events := reader.read_new(chunk):
        state.apply_all(events)
    state.apply_all(reader.read_all())
    return state


def test_a_real_fits_log_folds_by_columns_to_the_one_by_one_state(tmp_path, counted):
    log = write_tiny_fit_log(tmp_path / "run.jsonl")
    events, report = read_events(log)
    assert report.clean and sum(event.type == "batch" for event in events) == 3 * 250
    expected = _snapshot(_fold_one_by_one(events))
    # Chunks that cut runs in two, and the whole log at once.
    assert _snapshot(_replayed(log, chunk=16 * 1024)) == expected
    assert _snapshot(_replayed(log, chunk=1 << 30)) == expected
    assert counted["blocks"] >= 3  # an epoch a run, read whole
    state = _replayed(log)
    assert _snapshot(state) == expected
    assert state.batch_values.points == 750 and state.unrecovered_batches == 0
    assert state.last_batch_logs == events[-1 - _after_last_batch(events)].logs


def _after_last_batch(events) -> int:
    return next(i for i, event in enumerate(reversed(events)) if event.type == "batch")


def test_odd_runs_fold_to_the_one_by_one_state(tmp_path, stream, counted):
    """Key sets that change mid-epoch, values missing, null or NaN, a huge loss
    whose sums overflow, runs across epochs and fits, a model without a loss."""
    stream.run_start("odd.py").fit_start(epochs=4, steps=600)
    stream.epoch_start()
    for step in range(600):
        values = {"loss": 0.5 + step % 7} if step % 5 else None
        stream.batch({"loss": 1.0 / (1 + step), "acc": 0.5}, values)
    stream.epoch_end({"loss": 0.4})
    stream.epoch_start()
    for step in range(600):
        logs = {"loss": 1e308, "acc": 0.5} if step < 300 else {"acc": 0.5, "loss": 2.0, "x": 1}
        stream.batch(logs, {"loss": 1e308 if step < 300 else None, "acc": 0.5})
    stream.epoch_end({"loss": 0.4})
    stream.epoch_start()
    for step in range(600):
        stream.batch({"loss": 0.3}, {"loss": math.nan if step == 400 else 0.25})
    stream.epoch_end({"loss": 0.4})
    stream.fit_start(epochs=1, steps=600).epoch_start()
    for _ in range(600):
        stream.batch({"d_loss": 0.3, "g_loss": 0.1}, {"d_loss": 0.2})
    path = stream.epoch_end({"d_loss": 0.3}).run_end().write(tmp_path / "odd.jsonl")
    events, _ = read_events(path)
    expected = _snapshot(_fold_one_by_one(events))
    assert _snapshot(_replayed(path)) == expected
    assert _snapshot(_replayed(path, chunk=1 << 30)) == expected
    assert all(counted.values())  # every way was taken


def test_a_newer_schemas_batch_amid_a_stretch_is_read_and_counted_as_before(tmp_path, stream):
    stream.run_start("newer.py").fit_start(epochs=1, steps=300).epoch_start()
    for step in range(300):
        stream.batch({"loss": 1.0 / (1 + step)}, {"loss": 0.5})
    lines = list(stream.run_end().lines())
    newer = next(i for i, line in enumerate(lines) if '"step":150' in line)
    lines[newer] = lines[newer].replace('{"v":1,', '{"v":2,', 1)
    path = tmp_path / "newer.jsonl"
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    events, report = read_events(path)
    reader = EventLogReader(path, batch_runs=True)
    state = RunState()
    state.apply_all(reader.read_all())
    assert report.newer_schema == reader.report.newer_schema == 1
    assert state.batches == 300
    assert _snapshot(state) == _snapshot(_fold_one_by_one(events))


@pytest.mark.parametrize("capacity", [2, 8, 512])
def test_extend_array_makes_the_buckets_append_makes(capacity):
    """Bucket for bucket, sums to the last bit, across halvings, partly filled
    buckets, NaN (counted, not added) and sums past a float's range."""
    rng = np.random.default_rng(capacity)
    one_by_one, by_array = BucketSeries(capacity), BucketSeries(capacity)
    for size in (5, 31, 32, 33, 100, 1000, 4096, 7, 2500):
        values = rng.normal(size=size) * 10.0 ** rng.integers(-3, 300)
        if size == 100:
            values[17] = np.nan
        for value in values.tolist():
            one_by_one.append(value)
        extend_array(by_array, values)
        assert [astuple(b) for b in by_array.buckets] == [astuple(b) for b in one_by_one.buckets]
        assert (by_array.width, by_array.points, by_array.non_finite) == (
            one_by_one.width,
            one_by_one.points,
            one_by_one.non_finite,
        )
        assert (by_array.low, by_array.high) == (one_by_one.low, one_by_one.high)
    assert one_by_one.non_finite == 1 and one_by_one.width > 1


@pytest.mark.parametrize("beta", [0.9, 0.99])
def test_the_smoothed_loss_by_blocks_is_the_one_by_one_average_to_rounding(beta):
    """Each average within 1e-12 (relative) of :meth:`SmoothedSeries.add`'s, the
    bias-corrected start, blocks of every length, NaN and inf (left out of the
    average, as add leaves them) and values over many magnitudes included."""
    rng = np.random.default_rng(7)
    one_by_one, by_blocks = SmoothedSeries(beta, 8), SmoothedSeries(beta, 8)
    added, blocked = [], []
    for size in (40, 300, 1000, 63, 64, 65, 129, 2500, 100, 777):
        values = rng.normal(1.0, 0.5, size=size) * 10.0 ** rng.integers(-6, 6)
        if size == 100:
            values[[3, 50]] = [np.nan, np.inf]
        for value in values.tolist():
            one_by_one.add(value)
            added.append(one_by_one._average)
        by_blocks_before = by_blocks._count
        add_smoothed_array(by_blocks, values)
        blocked.append((by_blocks._count - by_blocks_before, by_blocks._average))
        assert by_blocks._count == one_by_one._count
        assert math.isclose(by_blocks._average, one_by_one._average, rel_tol=1e-12)
        assert (by_blocks.points, by_blocks.non_finite, by_blocks.width) == (
            one_by_one.points,
            one_by_one.non_finite,
            one_by_one.width,
        )
        assert [(b.first_index, b.count) for b in by_blocks.buckets] == [
            (b.first_index, b.count) for b in one_by_one.buckets
        ]
        for mine, theirs in zip(by_blocks.buckets, one_by_one.buckets):
            for name in ("low", "high", "total", "last"):
                assert math.isclose(getattr(mine, name), getattr(theirs, name), rel_tol=1e-12)
    assert one_by_one.non_finite == 2 and one_by_one.width > 1


def test_the_smoothed_loss_is_taken_by_blocks_once_its_correction_is_one(monkeypatch):
    """A long run's averages go by blocks (not the Python loop) from the first
    value whose bias correction is 1.0; before it, one by one."""
    taken = []
    by_blocks = bucket_arrays._smoothed
    monkeypatch.setattr(
        bucket_arrays, "_smoothed", lambda *args: taken.append(len(args[3])) or by_blocks(*args)
    )
    series = SmoothedSeries(0.9)
    values = np.linspace(2.0, 1.0, 5000)
    add_smoothed_array(series, values[:1000])  # from the corrected start: one by one
    add_smoothed_array(series, values[1000:])
    assert taken == [4000] and series._count == 5000
