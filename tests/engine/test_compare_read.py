"""The compare's fast reading: a log with its batches condensed folds to the same
epochs, steps, times and status as every batch; lines the skim refuses go the
reader's validated way; the per-batch view's columns are what the batches give;
several big logs are read in worker processes to the same results."""

from __future__ import annotations

import shutil

import pytest
from locations import DATA

from kmon.engine.log import compare_read
from kmon.engine.log.compare_read import (
    BatchColumns,
    map_logs,
    read_batch_columns,
    read_condensed,
)
from kmon.engine.log.eventlog import read_events
from kmon.engine.view.batch_track import BatchTrack
from kmon.engine.view.state import RunState

RECORDED = ["two_fits.jsonl", "three_heads.jsonl", "alarms.jsonl", "failed.jsonl"]


def _summary(state: RunState) -> dict:
    """What a compare reads of a run's state."""
    return {
        "history": [
            (r.fit, r.epoch, r.number, r.logs, r.seconds, r.steps, r.segment, r.ended)
            for r in state.history
        ],
        "times": (state.started, state.ended, state.last_t),
        "status": (state.status, state.name),
        "steps": (state.fit, state.epoch, state.step, state.total_steps),
        "segments": len(state.segments),
    }


def _folded(events: list) -> RunState:
    state = RunState()
    state.apply_all(events)
    return state


@pytest.mark.parametrize("name", RECORDED)
def test_a_condensed_log_folds_to_the_epochs_steps_and_times_of_every_batch(name):
    condensed, report = read_condensed(DATA / name)
    events, full_report = read_events(DATA / name)
    assert _summary(_folded(condensed)) == _summary(_folded(events))
    assert report.summary() == full_report.summary()
    batches = sum(1 for event in events if event.type == "batch")
    kept = sum(len(event.lines) for event in condensed if event.type == "batch_run")
    assert 0 < kept < batches  # condensed: a line per epoch, not per batch


def test_odd_orders_fold_the_same(tmp_path, stream):
    """Steps and times that go back at an epoch's end, a second fit, a run
    appended to the log, and a log that ends mid-epoch."""
    stream.tick = 0.25
    stream.run_start("odd.py").fit_start(epochs=3, steps=200)
    for epoch in range(3):
        for step in range(200):
            stream.batch({"loss": 1.0 / (1 + step)}, {"loss": 0.5}, epoch=epoch, step=step)
        # The last batch of each: a step that goes back, a time that goes back.
        stream.batch({"loss": 1.0}, epoch=epoch, step=40, t=stream.events[-1].t - 5.0)
    stream.epoch([0.5] * 300).fit_end()
    stream.fit_start(epochs=1, steps=300).epoch([0.4] * 300).fit_end().run_end()
    stream.run_start("odd.py").fit_start(epochs=1, steps=300).epoch([0.3] * 300).fit_end()
    # It ends killed mid-epoch, on a batch whose time is not the latest.
    stream.fit_start(epochs=1, steps=300).epoch_start().batches([0.2] * 299)
    stream.batch({"loss": 0.2}, t=stream.events[-1].t - 1.0)
    path = stream.write(tmp_path / "odd.jsonl")
    condensed, _ = read_condensed(path)
    assert _summary(_folded(condensed)) == _summary(_folded(read_events(path)[0]))


def test_lines_the_skim_refuses_are_read_and_skipped_as_a_replay_would(tmp_path, stream):
    stream.run_start("bad.py").fit_start(epochs=2, steps=300)
    stream.epoch([1.0] * 300).epoch([0.5] * 300).fit_end().run_end()
    lines = stream.lines()
    batch_lines = [i for i, line in enumerate(lines) if '"type":"batch"' in line]
    first, nan, newer, bad = batch_lines[5], batch_lines[50], batch_lines[90], batch_lines[120]
    last = batch_lines[599]  # the second epoch's last batch, in a stretch of its own
    lines[first] = lines[first].replace('"logs":{"loss":', '"logs":{"loss":NaN,"x":')
    lines[nan] = lines[nan].replace('"logs":{"loss":', '"logs":{"loss":Infinity,"y":')
    lines[newer] = lines[newer].replace('{"v":1,', '{"v":2,')
    lines[bad] = lines[bad].replace('"step":', '"step":-')
    lines[last] = lines[last].replace('"logs":{', '"logs":{"text":"a string",')  # the epoch's last
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    condensed, report = read_condensed(path)
    events, full_report = read_events(path)
    assert full_report.skipped > 0 and full_report.newer_schema == 1
    assert _summary(_folded(condensed)) == _summary(_folded(events))
    assert report.summary() == full_report.summary()


def _track_points(track: BatchTrack) -> list:
    return [
        track.points(key, 1000.0, axis)
        for key in ("loss", "acc", "nothing")
        for axis in ("batch", "wall", "since start")
    ]


def test_the_per_batch_columns_are_what_the_batches_give(tmp_path, stream):
    stream.tick = 0.01
    stream.run_start("cols.py").fit_start(epochs=3, steps=700)
    for epoch in range(3):
        stream.epoch_start()
        for step in range(700):
            values = {"loss": 1.0 / (1 + step)} if epoch < 2 else None
            stream.batch({"loss": 0.5 + step, "acc": step / 700}, values, step=step)
        stream.epoch_end({"loss": 0.5})
    path = stream.run_end().write(tmp_path / "cols.jsonl")
    columns = read_batch_columns(path)
    assert isinstance(columns, BatchColumns) and columns.count == 2100
    eager = BatchTrack()
    events, _ = read_events(path)
    eager.add([event for event in events if event.type == "batch"])
    lazy = BatchTrack.from_columns(columns)
    assert _track_points(lazy) == _track_points(eager)
    assert "loss" not in lazy.values and lazy.points("loss", None, "batch")[1] is False
    assert read_batch_columns(tmp_path / "gone.jsonl").startswith("cannot read it (")


def test_big_logs_are_read_in_worker_processes_to_the_same_results(tmp_path, monkeypatch):
    paths = [shutil.copy(DATA / name, tmp_path / name) for name in RECORDED[:2]]
    here = [read_condensed(path) for path in paths]
    monkeypatch.setattr(compare_read, "PARALLEL_BYTES", 0)
    monkeypatch.setattr(compare_read, "get_context", _counting(compare_read.get_context))
    there = map_logs(read_condensed, paths)
    assert _counting.contexts == ["spawn"]
    for (mine, my_report), (theirs, their_report) in zip(here, there):
        assert _summary(_folded(mine)) == _summary(_folded(theirs))
        assert my_report.summary() == their_report.summary()
    with pytest.raises(compare_read.Stopped):
        map_logs(read_condensed, paths, stop=lambda: True)


def _counting(real):
    _counting.contexts = []

    def get_context(method):
        _counting.contexts.append(method)
        return real(method)

    return get_context


def test_a_refused_batch_line_that_decides_nothing_leaves_the_epochs_as_they_are(
    tmp_path, stream
):
    """Logs the schema refuses, mid-epoch: the skim does not decode them, and the
    epochs, steps and times are a replay's all the same (only its report, which a
    compare does not show, lacks the line)."""
    stream.run_start("mid.py").fit_start(epochs=1, steps=300).epoch([1.0] * 300).fit_end()
    lines = stream.run_end().lines()
    middle = [i for i, line in enumerate(lines) if '"type":"batch"' in line][150]
    lines[middle] = lines[middle].replace('"logs":{', '"logs":{"text":"a string",')
    path = tmp_path / "mid.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    condensed, report = read_condensed(path)
    events, full_report = read_events(path)
    assert full_report.skipped == 1 and report.skipped == 0
    assert _summary(_folded(condensed)) == _summary(_folded(events))
    assert sum(len(event.lines) for event in condensed if event.type == "batch_run") == 1
