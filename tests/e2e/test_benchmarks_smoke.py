"""The benchmarks in ``benchmarks/`` run (``--quick``) and print their figures; and
the streaming replay the start-up benchmark measures reads a log exactly as a
whole read does.

No assertion here is about time: the figures depend on the machine and its load
(see docs/benchmarks.md). The smoke runs only check that each script finishes and
prints its ratio lines.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from pathlib import Path

import pytest
from locations import BENCHMARKS
from tui_helpers import running, wait_until

from kmon.engine.events import Batch, EpochEnd, EpochStart, FitStart, RunEnd, RunStart
from kmon.engine.log.eventlog import read_events
from kmon.engine.log.sources import LogFileSource, RecordedSource
from kmon.tui.app import MonitorApp
from kmon.tui.widgets.run_header import RunHeader

RATIO_LINE = re.compile(r"^ratio [\w/]+: \d+\.\d{3}", re.MULTILINE)

#: Script -> the ratio names it must print.
SMOKE = {
    "training_overhead.py": ["plain-again", "kmon", "headless", "progbar", "attach"],
    "ui_throughput.py": ["p95_latency/goal", "epoch_end_seen/produced"],
    "ui_cost.py": ["ui_thread_cpu/goal", "ui_thread_cpu/bare_textual"],
    "memory.py": ["rss_growth/50MB"],
    "startup.py": ["menu_first_frame/goal", "replay_first_frame/goal"],
    "terminal_bandwidth.py": ["kmon_bytes_per_s/20KB", "kmon/keras_progbar"],
    "ps_speed.py": ["list_runs/goal", "kmon_ps/goal", "kmon_stop_over_startup/goal"],
}


@pytest.mark.e2e
@pytest.mark.skipif(sys.platform == "win32", reason="the benchmarks use POSIX pseudo-terminals")
@pytest.mark.parametrize("script", sorted(SMOKE))
def test_benchmark_runs_quick_and_prints_its_ratios(script):
    pytest.importorskip("pexpect", reason="the benchmarks drive programs on a pty")
    pytest.importorskip("pyte", reason="the benchmarks read the screen through pyte")
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), "--quick"],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert result.stdout.startswith("== ") and "\nmachine: nproc " in result.stdout
    assert RATIO_LINE.search(result.stdout), result.stdout
    for name in SMOKE[script]:
        assert f"ratio {name}: " in result.stdout, result.stdout


# -- the streaming replay --------------------------------------------------------------


def write_log(path: Path, batches: int, *, garbage: bool = False) -> None:
    events = [RunStart(script="/x/long.py", t=0.0), FitStart(epochs=2, steps=batches // 2, t=0.0)]
    for index in range(batches):
        epoch, step = divmod(index, batches // 2)
        if step == 0:
            events.append(EpochStart(epoch=epoch, t=index / 100))
        loss = 1.0 / (1 + index)
        events.append(
            Batch(
                epoch=epoch,
                step=step,
                size=4,
                logs={"loss": loss},
                values={"loss": loss},
                t=index / 100,
            )
        )
        if step == batches // 2 - 1:
            events.append(EpochEnd(epoch=epoch, logs={"loss": loss}, t=index / 100))
    events.append(RunEnd(t=batches / 100))
    lines = [event.to_json() for event in events]
    if garbage:
        lines.insert(5, "not json at all")
    # No newline after the last line: an unfinished tail, as a crashed writer leaves.
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
    assert [event for chunk in drains for event in chunk] == expected
    assert source.report.garbage_lines == report.garbage_lines == 1


def test_log_file_source_of_a_file_without_events(tmp_path):
    path = tmp_path / "empty.jsonl"
    path.write_text("\n\n")
    source = LogFileSource(path)
    assert not source.has_events()
    assert not source.running


def test_monitor_on_a_streamed_log_ends_where_a_whole_read_ends(tmp_path):
    log = tmp_path / "run.jsonl"
    write_log(log, 400)
    events, _ = read_events(log)

    async def final_state(source):
        app = MonitorApp(source)
        async with running(app, (100, 30)) as pilot:
            await wait_until(pilot, lambda: app.state.finished and not source.running, 10)
            await pilot.pause()
            return str(app.query_one(RunHeader).text), app.state.batches, len(app.state.history)

    streamed = LogFileSource(log, budget_seconds=0.0, chunk_bytes=1024)
    assert streamed.has_events()
    assert asyncio.run(final_state(streamed)) == asyncio.run(final_state(RecordedSource(events)))
