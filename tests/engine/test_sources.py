"""LogFileSource, the source `kmon replay` streams a log through: a chunk at a time,
exactly the events a whole read gives, and the same final monitor."""

from __future__ import annotations

from pathlib import Path

from event_stream import EventStream
from tui_helpers import header_text, running, wait_until

from kmon.engine.log.eventlog import read_events
from kmon.engine.log.fast_decode import BatchRun
from kmon.engine.log.sources import FIRST_CHUNK_BYTES, LogFileSource, RecordedSource
from kmon.tui.app import MonitorApp


def write_log(path: Path, batches: int, *, garbage: bool = False) -> None:
    """A run of two epochs of ``batches`` in all, 10 ms apart. ``garbage``: a line
    that is not JSON among the events, and no newline after the last line (an
    unfinished tail, as a crashed writer leaves)."""
    steps = batches // 2
    stream = EventStream(0.0).run_start("/x/long.py").fit_start(epochs=2, steps=steps)
    for epoch in range(2):
        losses = [1.0 / (1 + epoch * steps + step) for step in range(steps)]
        stream.epoch(losses, size=4, every=0.01)
    lines = stream.run_end().lines()
    if garbage:
        lines.insert(5, "not json at all")
    path.write_text("\n".join(lines) + ("\n" if not garbage else ""))


def test_log_file_source_hands_out_the_whole_log_a_chunk_at_a_time(tmp_path):
    log = tmp_path / "run.jsonl"
    write_log(log, 200, garbage=True)
    expected, report = read_events(log)
    source = LogFileSource(log, budget_seconds=0.0, chunk_bytes=512)
    assert source.has_events() and source.running
    drains = []
    while source.running:
        drains.append(source.drain())
    assert source.drain() == []
    assert len(drains) > 10  # small chunks: many drains, as a long log on screen
    # Runs of batch lines come as they were read (BatchRun): the same events.
    events = [event for chunk in drains for item in chunk for event in _events_of(item)]
    assert events == expected
    assert source.report.garbage_lines == report.garbage_lines == 1


def test_a_long_logs_first_frame_waits_for_a_small_chunk_only(tmp_path):
    """The first frame's events come from at most FIRST_CHUNK_BYTES of the log
    (decoded and folded one by one); the drains after it read bigger chunks."""
    log = tmp_path / "run.jsonl"
    write_log(log, 20_000)
    source = LogFileSource(log, parallel_bytes=1 << 62)
    assert source.has_events()
    assert 0 < source._reader.offset <= FIRST_CHUNK_BYTES
    source.drain(), source.drain()  # the first frame's, and the empty one after it
    before = source._reader.offset
    source.drain()
    assert source._reader.offset - before > FIRST_CHUNK_BYTES


def test_log_file_source_of_a_file_without_events(tmp_path):
    path = tmp_path / "empty.jsonl"
    path.write_text("\n\n")
    source = LogFileSource(path)
    assert not source.has_events()
    assert not source.running


async def test_monitor_on_a_streamed_log_ends_where_a_whole_read_ends(tmp_path):
    log = tmp_path / "run.jsonl"
    write_log(log, 400)
    events, _ = read_events(log)

    async def final_state(source):
        app = MonitorApp(source)
        async with running(app, (100, 30)) as pilot:
            await wait_until(pilot, lambda: app.state.finished and not source.running, 10)
            await pilot.pause()
            return header_text(app), app.state.batches, len(app.state.history)

    streamed = LogFileSource(log, budget_seconds=0.0, chunk_bytes=1024)
    assert streamed.has_events()
    assert await final_state(streamed) == await final_state(RecordedSource(events))


def _events_of(item) -> list:
    """The events a drained item stands for."""
    return item.events() if isinstance(item, BatchRun) else [item]


def test_the_first_events_wait_for_no_reading_budget(tmp_path):
    """``has_events`` reads a chunk, not a drain's time budget: the first frame
    shows what the log starts with at once; the drain right after it reads
    nothing (the monitor asks again at once, before Textual drew that frame), and
    the next reads on."""
    log = tmp_path / "run.jsonl"
    write_log(log, 2000)
    source = LogFileSource(log, budget_seconds=60.0, chunk_bytes=4096)
    assert source.has_events()
    assert source.report is not None and source._reader.offset == 4096
    first = source.drain()
    assert first[0].type == "run_start" and source.running
    offset = source._reader.offset
    assert source.drain() == [] and source._reader.offset == offset
    rest = source.drain()  # 60 s of budget: the whole log
    assert not source.running
    handed_out = sum(len(item) if isinstance(item, BatchRun) else 1 for item in first + rest)
    assert handed_out == len(read_events(log)[0])
