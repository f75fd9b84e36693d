"""The replay's fast path: a reader in batch-run mode hands out exactly the events
the plain reader does (as runs of decoded lines), and folding those runs column by
column gives exactly the state the one-by-one fold gives: the same buckets with
the same sums, the same step counters, pace window, epoch statistics and heads;
and so does a live monitor's fold of drained batch events, column by column."""

from __future__ import annotations

import math
import random

import pytest
from event_stream import EventStream, load_events
from locations import DATA
from test_fast_decode import _batch, _snapshot

from kmon.engine.events import Batch
from kmon.engine.log.eventlog import EventLogReader, read_events
from kmon.engine.log.fast_decode import BatchRun
from kmon.engine.log.sources import LogFileSource
from kmon.engine.series import BucketSeries, SmoothedSeries
from kmon.engine.view import batch_fold
from kmon.engine.view.state import RunState

RECORDED = sorted(DATA.glob("*.jsonl"))


def _one_by_one(events, capacity: int) -> RunState:
    state = RunState(series_capacity=capacity)
    for event in events:
        state.apply(event)
    return state


def _read_in_runs(path, chunk: int) -> tuple[list, list]:
    """What a batch-run reader hands out, chunk by chunk: the items, and the
    events they stand for."""
    reader = EventLogReader(path, batch_runs=True)
    items = []
    while True:
        more = reader.read_new(chunk)
        if not more:
            break
        items += more
    items += reader.read_all()
    events = []
    for item in items:
        events += item.events() if isinstance(item, BatchRun) else [item]
    return items, events


def _check(path, *, capacity: int = 512, chunks=(1 << 20, 3000)) -> RunState:
    """Every way of reading and folding ``path`` gives the one-by-one state."""
    expected_events, report = read_events(path)
    expected = _snapshot(_one_by_one(expected_events, capacity))
    for chunk in chunks:
        items, events = _read_in_runs(path, chunk)
        assert events == expected_events or repr(events) == repr(expected_events)
        state = RunState(series_capacity=capacity)
        for start in range(0, len(items), 5):  # drains of a few items, as a monitor's
            state.apply_all(items[start : start + 5])
        assert _snapshot(state) == expected, chunk
    # A live monitor's drains: batch events (not runs), about 100 at a time.
    for drain in (37, 100):
        state = RunState(series_capacity=capacity)
        for start in range(0, len(expected_events), drain):
            state.apply_all(expected_events[start : start + drain])
        assert _snapshot(state) == expected, drain
    return state


@pytest.mark.parametrize("path", RECORDED, ids=lambda path: path.name)
def test_recorded_runs_read_in_runs_fold_to_the_one_by_one_state(path):
    _check(path, chunks=(1 << 20, 500))


def _noisy(count: int, seed: int, start: float = 2.0) -> list[float]:
    rng = random.Random(seed)
    return [start / (1 + index * 0.01) + rng.random() * 0.1 for index in range(count)]


def test_long_epochs_fold_column_by_column_to_the_same_state(tmp_path, monkeypatch):
    folded = []
    # The column-wise folds: by the reader's columns or the decoded lines'
    # (column_fold), or by the batch events'.
    for name in ("fold_column_blocks", "fold_column_run", "_fold_columns"):
        real = getattr(batch_fold, name)
        monkeypatch.setattr(
            batch_fold,
            name,
            lambda *a, real=real: (done := real(*a)) and folded.append(len(a[1])) or done,
        )
    stream = EventStream(tick=0.01).run_start("long.py")
    for fit in range(2):
        stream.fit_start(epochs=3, steps=900)
        for epoch in range(3):
            stream.epoch_start()
            losses = _noisy(900, seed=fit * 10 + epoch)
            total = 0.0
            for step, value in enumerate(losses):
                total += value
                size = 8 if step == 899 else 32  # a smaller last batch
                stream.batch({"loss": total / (step + 1), "acc": 0.5}, {"loss": value}, size=size)
            stream.val_end({"loss": 1.0}).epoch_end()
        stream.fit_end()
    path = stream.run_end().write(tmp_path / "long.jsonl")
    # Capacity 8: the buckets merge many times within a run.
    for capacity in (8, 512):
        state = _check(path, capacity=capacity)
    assert folded and max(folded) >= 800  # the column-wise fold did the work
    assert 100 in folded  # drains of batch events too
    assert state.batches == 5400 and state.total_steps == 5400
    assert state.batch_values.width == 16  # 5,400 values in 512 buckets


def test_odd_long_runs_fold_to_the_same_state(tmp_path):
    stream = EventStream(tick=0.001).run_start("odd.py").fit_start(epochs=2, steps=400)
    stream.epoch_start()
    for step in range(400):
        logs = {"loss": 1.0 + step % 7}
        values = {"loss": 0.5 + step % 5}
        if step == 50:
            values = {"loss": math.nan}
        elif step == 60:
            logs = {"loss": math.inf}
        elif step in (70, 71):
            values = {"loss": None}  # not recoverable
        elif step == 80:
            values = None
        if step == 300:
            logs["new_metric"] = 0.25  # a key that shows up late
        stream.batch(logs, values, size=None if step == 90 else 16)
    # The next epoch's batches with no epoch_start between, a step repeated and one
    # going back, an int loss: the run crosses epochs.
    for step in (0, 1, 1, 0, *range(2, 300)):
        stream.batch({"loss": 3}, {"loss": 2}, epoch=1, step=step, size=16)
    stream.epoch_end()
    path = stream.run_end().write(tmp_path / "odd.jsonl")
    _check(path, capacity=16)


def test_a_model_without_a_loss_and_a_multi_head_model_in_long_runs(tmp_path):
    heads = load_events("three_heads")
    start = next(index for index, event in enumerate(heads) if event.type == "batch")
    first = heads[start]
    stream = EventStream(tick=0.001).extend(heads[:start])
    for step in range(600):
        logs = {key: value * (1 + step * 1e-3) for key, value in first.logs.items()}
        stream.batch(logs, dict(logs), size=16, fit=first.fit, epoch=first.epoch, step=step)
    stream.epoch_end().fit_end()
    stream.fit_start(epochs=1, steps=500).epoch_start()
    for step in range(500):  # a GAN: no loss
        stream.batch({"d_loss": 0.5 + step, "g_loss": 1.5}, {"d_loss": 0.1 * step})
    path = stream.epoch_end().fit_end().run_end().write(tmp_path / "mixed.jsonl")
    state = _check(path)
    assert state.metric_series


def test_runs_of_bad_and_good_batch_lines_read_as_the_plain_reader_reads_them(tmp_path):
    path = tmp_path / "odd.jsonl"
    good = [_batch(step=index) for index in range(200)]
    lines = good[:100] + [b'{"v":1,"type":"batch","step":"x"}', b"garbage"] + good[100:]
    lines.insert(50, _batch(step=50).replace(b'"type":"batch",', b'"type":"batch","v":2,'))
    path.write_bytes(b"\n".join(lines) + b"\n" + good[0][:30])
    plain = EventLogReader(path)
    expected = plain.read_all()
    runs = EventLogReader(path, batch_runs=True)
    items = runs.read_all()
    # The newer schema's batch is an event of its own; skipped lines end no run.
    assert [type(item) for item in items] == [BatchRun, Batch, BatchRun]
    events = [e for item in items for e in (item.events() if type(item) is BatchRun else [item])]
    assert events == expected
    assert runs.report == plain.report


@pytest.mark.parametrize("capacity", [2, 8, 512])
@pytest.mark.parametrize("before", [0, 1, 7, 300])
def test_extending_a_bucket_series_gives_the_appends_buckets(capacity, before):
    values = _noisy(5000, seed=capacity + before)
    one, many = BucketSeries(capacity), BucketSeries(capacity)
    for value in values[:before]:
        one.append(value)
        many.append(value)
    for value in values[before:]:
        one.append(value)
    for start in range(before, len(values), 333):
        many.extend(values[start : start + 333])
    assert repr(many.buckets) == repr(one.buckets)
    assert (many.points, many.width, many.low, many.high, many.last) == (
        one.points, one.width, one.low, one.high, one.last
    )


@pytest.mark.parametrize("beta", [0.0, 0.9, 0.99])
def test_smoothing_a_run_at_once_gives_the_one_by_one_average(beta):
    values = _noisy(6000, seed=3)
    values[4000] = math.nan  # a non-finite value: that part goes one by one
    one, many = SmoothedSeries(beta, 64), SmoothedSeries(beta, 64)
    for value in values:
        one.add(value)
    for start in range(0, len(values), 700):
        many.add_all(values[start : start + 700])
    assert repr(many.buckets) == repr(one.buckets)
    assert (many._average, many._count, many.non_finite) == (one._average, one._count, 1)


def test_a_replay_source_hands_out_runs_joined_across_its_chunks(tmp_path):
    stream = EventStream(tick=0.001).run_start("x.py").fit_start(epochs=1, steps=3000)
    stream.epoch(_noisy(3000, seed=1), size=4)
    path = stream.fit_end().run_end().write(tmp_path / "x.jsonl")
    source = LogFileSource(path, chunk_bytes=4096, budget_seconds=60)
    items = source.drain()
    assert [len(item) for item in items if isinstance(item, BatchRun)] == [3000]
    state = RunState()
    state.apply_all(items)
    assert _snapshot(state) == _snapshot(_one_by_one(read_events(path)[0], 512))
