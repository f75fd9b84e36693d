"""A disk that fills up mid-run (issue #17, item 5): the writer keeps its memory
bounded and says where the log has a gap, a cut write never ends the log mid-line,
and the run and the monitor say so and keep the script's exit code."""

from __future__ import annotations

import re
import time
import tracemalloc

import pytest
from file_checks import fill_disk, parsed_lines, wait_until
from kmon_process import run_kmon

from kmon.engine.events import LOG_TOPIC, Batch, EpochEnd, Log, Notice, RunEnd, RunStart
from kmon.engine.log import writer as log_writer
from kmon.engine.log.eventlog import EventLogWriter
from kmon.engine.view.state import RunState


def test_a_writer_on_a_full_disk_keeps_memory_bounded_and_recovers(tiny_disk, monkeypatch):
    # A backlog the 200 KB disk can take once space is back.
    monkeypatch.setattr(log_writer, "BACKLOG_EVENTS", 500)
    told: list[Notice] = []
    writer = EventLogWriter(tiny_disk / "run.jsonl", on_notice=told.append)
    writer.put(RunStart(script="x.py"))
    for step in range(3):
        writer.put(Batch(fit=0, epoch=0, step=step, logs={"loss": 1.0}))
    wait_until(lambda: writer.written == 4, 5, "the first lines")
    filler = fill_disk(tiny_disk)
    logs = {"loss": 0.5}
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        for chunk in range(30):
            for step in range(10_000):
                writer.put(Batch(fit=0, epoch=1, step=step, logs=logs))
            for line in range(1_000):
                writer.put(Log(text=f"output {chunk}-{line}"))
            time.sleep(0.02)
        wait_until(lambda: not writer._pending, 20, "the writer to catch up")
        held = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
    assert held < 8 * 2**20, f"{held / 2**20:.1f} MiB held for 330,000 events"
    assert writer.failure is not None and writer.failure.reason == "No space left on device"
    assert re.fullmatch(r"step \d+ of epoch [12]", writer.failure.after)
    assert writer.dropped >= 290_000
    assert [n.level for n in told] == ["error"]
    assert "event log incomplete from" in told[0].text and told[0].topic == LOG_TOPIC

    filler.unlink()  # space comes back: the gap is told in the log, and it goes on
    wait_until(lambda: len(told) == 2, 10, "the log to be written again")
    writer.put(EpochEnd(fit=0, epoch=1, logs={"loss": 0.5}))
    writer.put(RunEnd(status="ok"))
    writer.close()
    assert told[1].level == "warning" and "event log gap from" in told[1].text
    assert re.search(r"to \d\d:\d\d:\d\d \(at step 10000 of epoch 2\): \d+ events", told[1].text)
    lines = parsed_lines(writer.path)
    gap = next(i for i, line in enumerate(lines) if line.get("topic") == LOG_TOPIC)
    assert lines[gap]["text"] == told[1].text
    kept = lines[gap + 1 : -2]
    assert [line["text"] for line in kept] == [f"output 0-{i}" for i in range(500)]
    assert [line["type"] for line in lines[-2:]] == ["epoch_end", "run_end"]
    # Every event is accounted for: written (the gap's notice too) or counted.
    assert writer.written + writer.dropped == 4 + 330_000 + 2 + 1
    final = writer.final_notice()
    assert final is not None and "written again from" in final.text
    assert f"{writer.dropped} events not written" in final.text


def test_a_write_cut_short_by_a_full_disk_never_ends_the_log_mid_line(tiny_disk):
    writer = EventLogWriter(tiny_disk / "run.jsonl")
    writer.put(RunStart(script="x.py"))
    wait_until(lambda: writer.written == 1, 5, "the first line")
    fill_disk(tiny_disk, leave=2000)  # room for part of the next write only
    for step in range(2000):
        writer.put(Batch(fit=0, epoch=0, step=step, logs={"loss": 1.0}))
    writer.put(EpochEnd(fit=0, epoch=0, logs={"loss": 1.0}))
    writer.close()  # never raises
    assert writer.failure is not None
    lines = parsed_lines(writer.path)
    assert lines[0]["type"] == "run_start" and len(lines) == writer.written
    assert writer.failure.offset == writer.path.stat().st_size
    assert writer.written + writer.dropped == 2002


def test_a_run_on_a_full_disk_ends_with_the_scripts_exit_code_and_says_so(workdir, tiny_disk):
    fill_disk(tiny_disk, leave=12 * 1024)  # fills a few epochs into the run
    log = tiny_disk / "run.jsonl"
    result = run_kmon("train", "--headless", "--log", str(log), "endless.py", "30", cwd=workdir)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Traceback" not in result.stdout + result.stderr
    assert "fit returned" in result.stdout  # the script ran to its end
    kmon_lines = [line for line in result.stdout.splitlines() if line.startswith("[kmon]")]
    live = [line for line in kmon_lines if "error: event log incomplete from" in line]
    assert len(live) == 2, kmon_lines  # when it happened, and at the end
    assert "(No space left on device)" in live[0] and "training goes on" in live[0]
    # Where the disk filled depends on how many bytes the run wrote before: mid-epoch
    # or just at an epoch's end (the baselines event made the log a little longer).
    assert re.search(r"after (step \d+ of epoch \d+|the end of epoch \d+)", live[0])
    assert re.search(r"\d+ events not written", live[1])
    assert kmon_lines[-1].startswith("[kmon] run ok in") and "30 epochs" in kmon_lines[-1]
    assert "(incomplete: see above)" in kmon_lines[-1]
    lines = parsed_lines(log)  # every line whole, none cut at the end
    assert (
        lines[0]["type"] == "run_start"
        and 0 < sum(line["type"] == "epoch_end" for line in lines) < 30
    )


def test_the_live_monitor_on_a_full_disk_says_so_and_shows_no_traceback(workdir, tiny_disk):
    pytest.importorskip("pexpect")
    pytest.importorskip("pyte")
    from pty_helpers import Terminal

    fill_disk(tiny_disk, leave=12 * 1024)
    args = ["train", "--log", str(tiny_disk / "run.jsonl"), "endless.py", "30"]
    terminal = Terminal(args, cwd=workdir, rows=30, cols=160)
    try:
        screen = terminal.wait_for(
            lambda text: "finished" in text.splitlines()[0], 120, "the finished header"
        )
        assert "⚠ event log incomplete from" in screen.splitlines()[0]
        assert "(No space left on device)" in screen.splitlines()[0]
        terminal.press("o")
        screen = terminal.wait_for(lambda text: "fit returned" in text, 10, "the Output tab")
        assert "[kmon] error: event log incomplete from" in screen
        terminal.press("q")
        assert terminal.wait_for_exit() == 0
        for word in ("Traceback", "OSError", "Errno 28"):
            assert word not in terminal.output  # not on screen, not after it
        handed_back = terminal.output.rsplit("\x1b[?1049l", 1)[1]
        assert "kmon: run ok (exit code 0)" in handed_back
        assert re.search(
            r"kmon: error: event log incomplete from .* \d+ events not written", handed_back
        )
    finally:
        terminal.kill()


def test_the_header_says_from_where_the_log_is_incomplete():
    from kmon.tui.widgets.run_header import RunHeader

    state = RunState()
    state.apply(RunStart(script="train.py"))
    header = RunHeader()
    header.show(state, 0.0)
    assert "incomplete" not in header.text.splitlines()[0]
    state.apply(
        Notice(
            level="error",
            topic=LOG_TOPIC,
            text="event log incomplete from 10:00:00, after step 3 of epoch 2 (No space left "
            "on device) · training goes on",
        )
    )
    header.show(state, 0.0)
    line = header.text.splitlines()[0]
    assert "⚠ event log incomplete from 10:00:00, after step 3 of epoch 2 (No space" in line
    assert "training goes on" not in line
