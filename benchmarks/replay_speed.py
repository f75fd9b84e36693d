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
  ``startup.py``'s figure: goal <= 0.5 s). Each four ways: json and a ``Batch``
  per line (kmon before), msgspec and a ``Batch`` per line, msgspec and runs of
  batch lines folded column by column in one process, and that with the log's
  later part read by a worker process (kmon now). Wall and CPU seconds (the
  worker's included), and a calibration loop's CPU time before and after, since
  on a shared machine wall time says more about the neighbours than about kmon;
- ``kmon compare`` of 4 such logs: the epoch view (what it shows first: each
  log's batches skimmed and condensed, in worker processes); goal <= 4 s. Beside
  it, in alternating rounds, the compare as it was (every batch decoded and folded
  in this process), the per-batch view's read that follows it, and the real
  ``kmon compare --headless``, spawn to exit. CPU seconds count the workers too.

    python benchmarks/replay_speed.py           # 1,000,000 batches
    python benchmarks/replay_speed.py --quick   # 40,000 batches
    python benchmarks/replay_speed.py --compare # the compare figures only
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import resource
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import msgspec
import orjson
from _common import header, kmon_command, ratio_line
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


#: The replay paths measured: (label, reader's decoder is json, batch runs,
#: a worker process for the log's later part).
PATHS = (
    ("json + one Batch per line (before)", True, False, False),
    ("msgspec + one Batch per line", False, False, False),
    ("msgspec + batch runs, one process", False, True, False),
    ("msgspec + batch runs + a worker process (now)", False, True, True),
)
#: No log is this big: one process reads it all.
ONE_PROCESS = 1 << 62


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


def on_screen(path: Path, runs: bool = True, worker: bool = True) -> tuple[float, float]:
    """Wall and CPU seconds from a replaying monitor's start to its frame of the
    finished run, the CPU of the source's worker process included (it starts
    with the source, before the app: all of its CPU counts); ``runs`` False: the
    source hands out one Batch per line (and has no worker); ``worker`` False:
    one process reads the whole log."""

    async def run() -> tuple[float, float]:
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        source = LogFileSource(path, parallel_bytes=None if worker and runs else ONE_PROCESS)
        if not runs:
            source._reader = source._first = eventlog.EventLogReader(path)
        source.has_events()
        cpu = time.process_time()
        app = TimedMonitor(source)
        async with app.run_test(size=SIZE) as pilot:
            while app.done_at is None:
                await pilot.pause(0.05)
        source.close()  # (done already: the worker ended with its last piece)
        ended = resource.getrusage(resource.RUSAGE_CHILDREN)
        theirs = ended.ru_utime + ended.ru_stime - children.ru_utime - children.ru_stime
        return app.done_at - app.started, time.process_time() - cpu + theirs

    return asyncio.run(run())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a 40,000-batch log")
    parser.add_argument("--batches", type=int, default=1_000_000)
    parser.add_argument("--log", type=Path, help="an existing log to use instead")
    parser.add_argument("--rounds", type=int, default=3, help="compare rounds")
    parser.add_argument("--compare", action="store_true", help="only the compare figures")
    args = parser.parse_args(argv)
    if args.quick:
        args.batches, args.rounds = 40_000, 1
    header("replay speed")
    with tempfile.TemporaryDirectory(prefix="kmon-bench-") as tmp:
        path = args.log or Path(tmp) / "big.jsonl"
        if args.log is None:
            write_log(path, args.batches)
        print(f"log: {path.stat().st_size / 2**20:.0f} MiB")
        print(f"calibration (10M-addition loop): {calibration():.2f} s CPU")
        if args.compare:
            compare_figures(path, args.batches, args.rounds)
            print(f"calibration again: {calibration():.2f} s CPU")
            return 0
        for name, speed in decoder_speeds(path).items():
            print(f"decoder {name}: {speed:.0f} MB/s")
        gc.collect()
        figures = {}
        for label, old, runs, worker in PATHS:
            with decoder(old):
                fold, fold_cpu = read_and_fold(path, runs)
                gc.collect()
                screen, screen_cpu = on_screen(path, runs, worker)
                gc.collect()
            figures[label] = screen
            print(
                f"{label}: read and folded in {fold:.2f}s ({fold_cpu:.2f}s CPU) · "
                f"whole log on screen {screen:.2f}s ({screen_cpu:.2f}s CPU)"
            )
        print(f"calibration again: {calibration():.2f} s CPU")
        now, before = figures[PATHS[-1][0]], figures[PATHS[0][0]]
        one = figures[PATHS[-2][0]]
        print(
            ratio_line(
                "replay_on_screen/goal",
                now / ON_SCREEN_GOAL,
                1.0,
                f"goal <= {ON_SCREEN_GOAL:g} s; one process: {one:.2f} s; "
                f"before: {before:.2f} s",
            )
        )
        compare_figures(path, args.batches, args.rounds)
    return 0


def cpu_seconds() -> tuple[float, float]:
    """CPU seconds (user and system) of this process and of its ended children."""
    mine = resource.getrusage(resource.RUSAGE_SELF)
    theirs = resource.getrusage(resource.RUSAGE_CHILDREN)
    return mine.ru_utime + mine.ru_stime, theirs.ru_utime + theirs.ru_stime


def timed(work, *args, **kwargs) -> tuple:
    """What ``work(*args, **kwargs)`` gives, and its wall seconds, this process's
    and its children's CPU seconds."""
    gc.collect()
    cpu, wall = cpu_seconds(), time.perf_counter()
    result = work(*args, **kwargs)
    after = cpu_seconds()
    return result, time.perf_counter() - wall, after[0] - cpu[0], after[1] - cpu[1]


def compare_before(paths: list[str]):
    """The compare as it was (2026-12-03): every log read in this process, every
    batch decoded and folded into its run's state and per-batch track."""
    from kmon.engine.view.compare import RunFolder

    for index, path in enumerate(paths):
        folder = RunFolder(index, path, "kmon log")  # no batch_log: the eager track
        reader = eventlog.EventLogReader(path, batch_runs=True)
        while events := reader.read_new(4 << 20):
            folder.add(events)
        folder.add(reader.read_all())
        assert folder.run.track.count


def compare_now(paths: list[str]):
    """The compare's epoch view now (what ``kmon compare`` shows first)."""
    from kmon.engine.log.compare_inputs import open_inputs
    from kmon.engine.view.compare import fold_runs

    comparison, _ = fold_runs(open_inputs(paths))
    assert len(comparison.runs) == len(paths)
    return comparison


def compare_figures(path: Path, batches: int, rounds: int) -> None:
    """``kmon compare`` of 4 copies of the log: before and now in alternating
    rounds, the per-batch view's read, and the real command, spawn to exit."""
    from kmon.engine.log.compare_inputs import read_batches

    paths = [str(path)] * 4
    nows = []
    for round_ in range(rounds):
        _, *before = timed(compare_before, paths)
        comparison, *now = timed(compare_now, paths)
        nows.append(now)
        read, *per_batch = timed(read_batches, comparison.pending_batches())
        comparison.add_batches(read)
        assert comparison.runs[0].batch_points("loss") is not None
        print(
            f"compare round {round_ + 1}: before {before[0]:.2f} s ({before[1]:.2f} s CPU) · "
            f"now, epoch view {now[0]:.2f} s ({now[1]:.2f} s CPU here, {now[2]:.2f} s in "
            f"workers) · per-batch read after it {per_batch[0]:.2f} s ({per_batch[1]:.2f} s "
            f"CPU here, {per_batch[2]:.2f} s in workers)"
        )
    command = [*kmon_command(), "compare", "--headless", *paths]
    _, *spawned = timed(subprocess.run, command, check=True, capture_output=True)
    print(
        f"kmon compare --headless of the 4 logs, spawn to exit: {spawned[0]:.2f} s "
        f"({spawned[2]:.2f} s CPU, itself and its workers)"
    )
    best = min(nows)
    print(
        ratio_line(
            "compare_4_logs/goal",
            best[0] / COMPARE_GOAL,
            1.0,
            f"goal <= {COMPARE_GOAL:g} s, 4 logs of {batches:,} batches, epoch view, "
            f"best of {rounds} ({best[1] + best[2]:.2f} s CPU in all)",
        )
    )


if __name__ == "__main__":
    sys.exit(main())
