"""Replay speed: how fast a long event log is read, folded and on screen.

On a 1,000,000-batch log (190 MiB, written as ``startup.py`` writes it), in this
process, with the decoder kmon uses now beside the one it used before (``json``
plus the validating reader, ``--old``-style: the same code with the typed batch
path switched off):

- the decoders alone: MB/s of ``json.loads``, ``orjson.loads`` and msgspec over
  every line (dicts, not kept), and of kmon's reader (``decode_line``: typed
  batch structs, validated events);
- the whole log read and folded into a :class:`RunState` (no UI), and the whole
  log on screen: a real ``MonitorApp`` (headless, 120x40) replaying the log with
  ``LogFileSource``, from the app's start to the frame that shows it finished;
  goal <= 1.5 s (the first frame of the real command, spawn included, is
  ``startup.py``'s figure: goal <= 0.5 s). Each three ways: json and a ``Batch``
  per line (kmon before), msgspec and a ``Batch`` per line, msgspec and runs of
  batch lines folded column by column (kmon now). Wall and CPU seconds, and a
  calibration loop's CPU time before and after, since on a shared machine wall
  time says more about the neighbours than about kmon;
- ``kmon compare`` of 4 such logs, each folded while it is read; goal <= 4 s.

    python benchmarks/replay_speed.py           # 1,000,000 batches
    python benchmarks/replay_speed.py --quick   # 100,000 batches
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import msgspec
import orjson
from _common import header, ratio_line
from _monitor import BenchmarkMonitor
from startup import write_log

from kmon.engine.events import event_from_dict
from kmon.engine.log import eventlog
from kmon.engine.log.fast_decode import decode_line
from kmon.engine.log.sources import LogFileSource
from kmon.engine.view.state import RunState

ON_SCREEN_GOAL = 1.5
COMPARE_GOAL = 4.0
SIZE = (120, 40)


def validated_json_line(raw: bytes):
    """The reader's path before msgspec: json.loads, then the schema's check."""
    data = json.loads(raw)
    return event_from_dict(data), data.get("v", 1)


@contextmanager
def decoder(old: bool):
    """kmon's reader with the old (json) or the new (msgspec) decoding."""
    saved = eventlog.decode_line
    eventlog.decode_line = validated_json_line if old else decode_line
    try:
        yield
    finally:
        eventlog.decode_line = saved


def decoder_speeds(path: Path) -> dict[str, float]:
    """MB/s of each decoder over every line of the log."""
    data = path.read_bytes()
    lines = [line for line in data.split(b"\n") if line]
    megabytes = len(data) / 1e6
    speeds = {}
    for name, loads in (
        ("json", json.loads),
        ("orjson", orjson.loads),
        ("msgspec", msgspec.json.Decoder().decode),
        ("json + schema (kmon before)", validated_json_line),
        ("kmon reader (msgspec, typed batch)", decode_line),
    ):
        started = time.perf_counter()
        for line in lines:
            loads(line)
        speeds[name] = megabytes / (time.perf_counter() - started)
    return speeds


#: The replay paths measured: (label, reader's decoder is json, batch runs).
PATHS = (
    ("json + one Batch per line (before)", True, False),
    ("msgspec + one Batch per line", False, False),
    ("msgspec + batch runs (now)", False, True),
)


def calibration() -> float:
    """CPU seconds of a fixed pure-Python loop (10,000,000 additions): how slow this
    machine runs Python now. About 0.35-0.45 s on an idle desktop CPU."""
    started = time.process_time()
    total = 0
    for number in range(10_000_000):
        total += number
    return time.process_time() - started


def read_and_fold(path: Path, runs: bool) -> tuple[float, float]:
    """Wall and CPU seconds to read the whole log in 4 MiB chunks and fold it (no UI)."""
    started, cpu = time.perf_counter(), time.process_time()
    reader = eventlog.EventLogReader(path, batch_runs=runs)
    state = RunState()
    while True:
        events = reader.read_new(4 << 20)
        if not events:
            break
        state.apply_all(events)
    state.apply_all(reader.read_all())
    return time.perf_counter() - started, time.process_time() - cpu


class TimedMonitor(BenchmarkMonitor):
    """The monitor, noting when it first drew the run finished."""

    def __init__(self, source) -> None:
        super().__init__(source)
        self.started = time.perf_counter()
        self.done_at: float | None = None

    def _redraw(self) -> None:
        super()._redraw()
        if self.done_at is None and self.state.finished and not self.source.running:
            self.done_at = time.perf_counter()
            self.call_after_refresh(self.exit, "done")


def on_screen(path: Path, runs: bool = True) -> tuple[float, float]:
    """Wall and CPU seconds from a replaying monitor's start to its frame of the
    finished run; ``runs`` False: the source hands out one Batch per line."""

    async def run() -> tuple[float, float]:
        source = LogFileSource(path)
        if not runs:
            source._reader = eventlog.EventLogReader(path)
        source.has_events()
        cpu = time.process_time()
        app = TimedMonitor(source)
        async with app.run_test(size=SIZE) as pilot:
            while app.done_at is None:
                await pilot.pause(0.05)
        return app.done_at - app.started, time.process_time() - cpu

    return asyncio.run(run())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a 100,000-batch log")
    parser.add_argument("--batches", type=int, default=1_000_000)
    parser.add_argument("--log", type=Path, help="an existing log to use instead")
    args = parser.parse_args(argv)
    if args.quick:
        args.batches = 100_000
    header("replay speed")
    with tempfile.TemporaryDirectory(prefix="kmon-bench-") as tmp:
        path = args.log or Path(tmp) / "big.jsonl"
        if args.log is None:
            write_log(path, args.batches)
        print(f"log: {path.stat().st_size / 2**20:.0f} MiB")
        print(f"calibration (10M-addition loop): {calibration():.2f} s CPU")
        for name, speed in decoder_speeds(path).items():
            print(f"decoder {name}: {speed:.0f} MB/s")
        gc.collect()
        figures = {}
        for label, old, runs in PATHS:
            with decoder(old):
                fold, fold_cpu = read_and_fold(path, runs)
                gc.collect()
                screen, screen_cpu = on_screen(path, runs)
                gc.collect()
            figures[label] = screen
            print(
                f"{label}: read and folded in {fold:.2f}s ({fold_cpu:.2f}s CPU) · "
                f"whole log on screen {screen:.2f}s ({screen_cpu:.2f}s CPU)"
            )
        print(f"calibration again: {calibration():.2f} s CPU")
        now, before = figures[PATHS[-1][0]], figures[PATHS[0][0]]
        print(
            ratio_line(
                "replay_on_screen/goal",
                now / ON_SCREEN_GOAL,
                1.0,
                f"goal <= {ON_SCREEN_GOAL:g} s; before: {before:.2f} s",
            )
        )
        started = time.process_time()
        compare = compare_seconds(path)
        print(
            ratio_line(
                "compare_4_logs/goal",
                compare / COMPARE_GOAL,
                1.0,
                f"goal <= {COMPARE_GOAL:g} s, 4 logs of {args.batches:,} batches "
                f"({time.process_time() - started:.2f} s CPU)",
            )
        )
    return 0


def compare_seconds(path: Path) -> float:
    """Seconds to read 4 copies of the log and fold them into the compare model."""
    from kmon.engine.log.compare_inputs import open_inputs
    from kmon.engine.view.compare import fold_runs

    started = time.perf_counter()
    comparison, _ = fold_runs(open_inputs([str(path)] * 4))
    assert len(comparison.runs) == 4
    return time.perf_counter() - started


if __name__ == "__main__":
    sys.exit(main())
