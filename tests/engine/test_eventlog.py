"""The JSON Lines event log: writer thread and forgiving reader."""

from __future__ import annotations

import json
import math
import re
import time

import pytest
from event_stream import EventStream

from kmon.engine.events import Batch, EpochEnd, Log, Notice, RunEnd, RunStart
from kmon.engine.log.eventlog import EventLogReader, EventLogWriter, default_log_path, read_events
from kmon.engine.log.run_files import LogFileExists


def _lines(path):
    return path.read_text(encoding="utf-8").splitlines()


def test_writer_writes_every_event_in_order(tmp_path):
    path = tmp_path / "sub" / "dir" / "run.jsonl"
    writer = EventLogWriter(path)
    stream = EventStream(None).run_start("x.py")
    for step in range(5000):
        stream.batch({"loss": 1.0 / (step + 1)})
    events = stream.epoch_end({"loss": math.nan}).run_end().events
    for event in events:
        writer.put(event)
    writer.close()
    assert writer.written == len(events)
    lines = _lines(path)
    assert len(lines) == len(events)
    assert all(json.loads(line.replace("NaN", "0"))["v"] == 1 for line in lines)
    back, report = read_events(path)
    assert report.skipped == 0 and not report.truncated_tail
    assert back[:-2] == events[:-2]
    assert math.isnan(back[-2].logs["loss"])
    assert back[-1] == events[-1]


def test_writer_writes_everything_put_faster_than_it_writes(tmp_path):
    """More events than one writing round takes (_FLUSH_LINES), all put before the
    writer catches up, then closed at once: every one is written, in order."""
    path = tmp_path / "run.jsonl"
    writer = EventLogWriter(path)
    for step in range(100_000):
        writer.put(Batch(step=step, logs={"loss": 0.5}))
    writer.close()
    back, report = read_events(path)
    assert writer.written == len(back) == 100_000 and report.skipped == 0
    assert [event.step for event in back] == list(range(100_000))


def test_writer_flushes_without_close(tmp_path):
    path = tmp_path / "run.jsonl"
    writer = EventLogWriter(path)
    try:
        # Log events are not "urgent": only the periodic flush writes them out.
        for i in range(3):
            writer.put(Log(text=f"line {i}"))
        deadline = time.monotonic() + 3.0
        lines = []
        while time.monotonic() < deadline:
            lines = _lines(path)
            if len(lines) == 3:
                break
            time.sleep(0.05)
        assert [json.loads(line)["text"] for line in lines] == ["line 0", "line 1", "line 2"]
    finally:
        writer.close()


def test_urgent_events_are_flushed_promptly(tmp_path):
    path = tmp_path / "run.jsonl"
    writer = EventLogWriter(path)
    try:
        writer.put(Notice(text="hello"))
        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline and not path.read_text():
            time.sleep(0.02)
        assert json.loads(path.read_text())["type"] == "notice"
    finally:
        writer.close()


def test_an_urgent_event_wakes_the_writer_between_its_rounds(monkeypatch, tmp_path):
    """The thread sleeps between rounds (each wake costs CPU while training holds
    the GIL); an event to write at once (an epoch's end) wakes it at its put, with
    whatever came before it."""
    monkeypatch.setattr("kmon.engine.log.writer._WRITE_PAUSE_SECONDS", 60.0)
    monkeypatch.setattr("kmon.engine.log.writer.FLUSH_SECONDS", 60.0)
    path = tmp_path / "run.jsonl"
    writer = EventLogWriter(path)
    try:
        writer.put(Batch(step=0, logs={"loss": 0.5}))
        writer.put(EpochEnd(epoch=0, logs={"loss": 0.5}))
        deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline and len(_lines(path)) < 2:
            time.sleep(0.02)
        assert [json.loads(line)["type"] for line in _lines(path)] == ["batch", "epoch_end"]
    finally:
        writer.close()


def test_close_is_idempotent(tmp_path):
    path = tmp_path / "run.jsonl"
    writer = EventLogWriter(path)
    writer.put(Log(text="a"))
    writer.close()
    writer.close()
    assert len(_lines(path)) == 1
    assert not writer._thread.is_alive()


def test_writer_appends_to_an_existing_log_only_when_asked(tmp_path):
    path = tmp_path / "run.jsonl"
    for text in ("first", "second"):
        writer = EventLogWriter(path, append=True)
        writer.put(RunStart(script=f"{text}.py"))
        writer.put(Log(text=text))
        writer.close()
    with pytest.raises(LogFileExists, match="--append"):
        EventLogWriter(path)
    events, _ = read_events(path)
    assert [e.type for e in events] == ["run_start", "log"] * 2
    assert [e.text for e in events if e.type == "log"] == ["first", "second"]


def test_reader_skips_garbage_and_counts_unknown_types(tmp_path):
    path = tmp_path / "run.jsonl"
    lines = [
        RunStart(script="a.py").to_json(),
        "this is not json",
        "",
        "   ",
        '{"v":1,"type":"gpu","t":1}',
        "[1, 2, 3]",
        '{"no_type": true}',
        '{"v":1,"type":{"nested":1},"t":1}',
        '{"v":1,"type":"gpu","t":2,"util":0.5}',
        '{"v":1,"type":"hologram","t":3}',
        '{"v":1,"type":"fit_start","t":1,"fit":0,"epochs":2,"unknown_field":"x"}',
        "\x00\x01binary",
        "[" * 100_000,
        '{"v":1,"type":"log","t":1,"text":"ok"}',
    ]
    raw = ("\n".join(lines) + "\n").encode() + b"\xff\xfe\xfa garbage bytes\n"
    raw += RunEnd().to_json().encode() + b"\n"
    path.write_bytes(raw)
    events, report = read_events(path)
    assert [e.type for e in events] == ["run_start", "fit_start", "log", "run_end"]
    assert events[1].epochs == 2
    assert report.unknown_types == {"gpu": 2, "hologram": 1}
    assert report.garbage_lines == 7
    assert report.skipped == 10
    assert not report.truncated_tail


def test_truncated_last_line_is_held_back_then_completed(tmp_path):
    path = tmp_path / "run.jsonl"
    first = RunStart(script="a.py").to_json()
    second = Log(text="a line the writer is still finishing").to_json()
    path.write_text(first + "\n" + second[:15], encoding="utf-8")

    reader = EventLogReader(path)
    assert [e.type for e in reader.read_new()] == ["run_start"]
    assert reader.report.truncated_tail
    assert reader.report.garbage_lines == 0
    assert reader.read_new() == []

    with open(path, "a", encoding="utf-8") as handle:
        handle.write(second[15:] + "\n")
    events = reader.read_new()
    assert [e.type for e in events] == ["log"]
    assert events[0].text == "a line the writer is still finishing"
    assert not reader.report.truncated_tail
    assert reader.report.skipped == 0


def test_read_all_counts_a_truncated_last_line_as_garbage(tmp_path):
    path = tmp_path / "run.jsonl"
    path.write_text(RunStart().to_json() + "\n" + '{"v":1,"type":"lo', encoding="utf-8")
    events, report = read_events(path)
    assert [e.type for e in events] == ["run_start"]
    assert report.garbage_lines == 1


def test_read_all_keeps_a_complete_last_line_without_newline(tmp_path):
    path = tmp_path / "run.jsonl"
    path.write_text(RunStart().to_json() + "\n" + RunEnd().to_json(), encoding="utf-8")
    events, report = read_events(path)
    assert [e.type for e in events] == ["run_start", "run_end"]
    assert report.skipped == 0


def test_read_new_picks_up_appended_lines_incrementally(tmp_path):
    path = tmp_path / "run.jsonl"
    writer = EventLogWriter(path)
    reader = EventLogReader(path)
    seen = []
    try:
        for chunk in range(3):
            for i in range(4):
                writer.put(Log(text=f"{chunk}-{i}"))
            writer.put(EpochEnd(epoch=chunk))  # urgent: flushed at once
            deadline = time.monotonic() + 3.0
            while time.monotonic() < deadline:
                seen += reader.read_new()
                if seen and seen[-1].type == "epoch_end" and seen[-1].epoch == chunk:
                    break
                time.sleep(0.02)
            assert [e.type for e in seen[-5:]] == ["log"] * 4 + ["epoch_end"]
    finally:
        writer.close()
    seen += reader.read_new()
    texts = [e.text for e in seen if e.type == "log"]
    assert texts == [f"{c}-{i}" for c in range(3) for i in range(4)]
    assert len(seen) == 15
    assert reader.report.skipped == 0


def test_default_log_path_is_new_and_slugged(tmp_path):
    first = default_log_path("my train script!.py", tmp_path)
    assert first.parent == tmp_path
    assert re.fullmatch(r"\d{8}-\d{6}-my_train_script_-[0-9a-f]{6}\.jsonl", first.name)
    first.write_text("")
    second = default_log_path("my train script!.py", tmp_path)
    assert second != first and not second.exists()


# -- what the reader skips: events against the schema, over-long lines -----------------


def _write_lines(path, lines):
    path.write_bytes(
        b"".join((line if isinstance(line, bytes) else line.encode()) + b"\n" for line in lines)
    )


def test_events_against_the_schema_are_skipped_and_counted_by_type(tmp_path):
    path = tmp_path / "run.jsonl"
    good = Batch(fit=0, epoch=0, step=1, logs={"loss": 0.5}, t=2.0)
    _write_lines(
        path,
        [
            RunStart(script="a.py", t=1.0).to_json(),
            '{"v":1,"type":"batch","t":1.5,"fit":0,"epoch":0,"step":"0","logs":{"loss":1.0}}',
            good.to_json(),
            '{"v":1,"type":"batch","t":2.5,"fit":0,"epoch":0,"step":2,"logs":{"loss":null}}',
            '{"v":1,"type":"epoch_end","t":3.0,"fit":0,"logs":{"loss":0.5}}',
            RunEnd(t=4.0).to_json(),
        ],
    )
    events, report = read_events(path)
    assert events == [RunStart(script="a.py", t=1.0), good, RunEnd(t=4.0)]
    assert report.invalid_events == {"batch": 2, "epoch_end": 1}
    assert report.skipped == 3 and not report.clean
    assert report.examples[0] == "line 2: batch: step is '0', not int >= 0"
    assert report.examples[2] == "line 5: epoch_end: no epoch"
    assert report.summary() == (
        "skipped 3 invalid events (2 batch, 1 epoch_end) "
        "(first: line 2: batch: step is '0', not int >= 0)"
    )


def test_events_missing_their_epoch_or_step_do_not_add_epochs_or_steps(tmp_path):
    # A 3-epoch log of 50 steps an epoch with an epoch_end and a batch stripped of
    # the fields that place them once read as "4 epochs, 151 steps".
    from kmon.engine.view.state import RunState

    stream = EventStream(0.0).run_start(None).fit_start(epochs=3, steps=50)
    for _ in range(3):
        stream.epoch_start()
        for _ in range(50):
            stream.wait(1.0).batch({"loss": 1.0})
        stream.epoch_end()
    lines = stream.run_end().lines()
    lines.insert(30, '{"v":1,"type":"batch","t":30.5,"fit":0,"epoch":0,"logs":{"loss":1.0}}')
    lines.insert(60, '{"v":1,"type":"epoch_end","t":55.5,"fit":0,"logs":{"loss":1.0}}')
    path = tmp_path / "run.jsonl"
    _write_lines(path, lines)
    events, report = read_events(path)
    state = RunState()
    state.apply_all(events)
    assert (len(state.history), state.total_steps) == (3, 150)
    assert report.invalid_events == {"batch": 1, "epoch_end": 1}


def test_a_50_mb_line_is_skipped_without_being_held(tmp_path):
    import tracemalloc

    path = tmp_path / "run.jsonl"
    huge = b'{"v":1,"type":"log","t":1.0,"text":"' + b"x" * 50_000_000 + b'"}'
    _write_lines(path, [RunStart(t=1.0).to_json(), huge, RunEnd(t=2.0).to_json()])
    tracemalloc.start()
    started = time.monotonic()
    try:
        events, report = read_events(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert time.monotonic() - started < 2.0
    assert [e.type for e in events] == ["run_start", "run_end"]
    assert report.long_lines == 1 and report.skipped == 1
    assert report.examples == ["line 2: over 1 MiB"]
    assert peak < 20_000_000  # read a few MiB at a time, never the whole line


def test_an_over_long_unfinished_line_is_dropped_across_reads(tmp_path):
    # The writer (or a stuck process) appends a line that never ends in time: the
    # reader holds at most MAX_LINE_BYTES of it, then drops bytes up to its newline.
    from kmon.engine.log.eventlog import MAX_LINE_BYTES

    path = tmp_path / "run.jsonl"
    path.write_text(RunStart(t=1.0).to_json() + "\n" + '{"v":1,"type":"log","text":"')
    reader = EventLogReader(path)
    assert [e.type for e in reader.read_new()] == ["run_start"]
    for _ in range(5):
        with open(path, "ab") as handle:
            handle.write(b"y" * (MAX_LINE_BYTES // 2))
        assert reader.read_new() == []
        assert len(reader._partial) <= MAX_LINE_BYTES
        assert reader.report.truncated_tail
    assert reader.report.long_lines == 1
    with open(path, "ab") as handle:
        handle.write(b'"}\n' + Log(text="after", t=3.0).to_json().encode() + b"\n")
    assert reader.read_new() == [Log(text="after", t=3.0)]
    assert reader.report.long_lines == 1 and not reader.report.truncated_tail
    assert reader.report.examples == ["line 2: over 1 MiB"]


def test_events_naming_a_newer_schema_version_are_read_and_counted(tmp_path):
    path = tmp_path / "run.jsonl"
    _write_lines(path, [RunStart(t=1.0).to_json(), '{"v":2,"type":"log","t":2.0,"text":"hi"}'])
    events, report = read_events(path)
    assert [e.type for e in events] == ["run_start", "log"]
    assert report.newer_schema == 1 and report.skipped == 0
    assert report.summary() == "1 event(s) name a newer schema version: read as version 1"
