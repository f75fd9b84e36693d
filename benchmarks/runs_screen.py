"""The Runs screen's first full table with ``--runs`` runs on disk.

A temporary folder holds ``--runs`` real event logs (kmon's own event classes): a
``run_start`` of a process that is gone, a ``fit_start``, ``--batches`` batch
events with an epoch end every 50, and for 9 logs in 10 a ``run_end`` (the others
are stale). Every one is in a temporary per-user runs index (``XDG_STATE_HOME``),
half of them also in the runs folder the screen is given. Timed, the median of
``--rounds``: from ``RunsApp`` starting under ``App.run_test`` (a Pilot, 160x40) to
the frame after the table holds every run, in wall time and in the process's CPU
time (on a loaded machine the wall time is mostly waiting for a core). The goal: at
most 0.5 s for 2,000 runs.

Also timed: the first frame with rows (the first pass reads only the logs of the
rows a first frame shows, the rest after it; a layout adds the rows a first frame
can show, the rest after it).

Then the later passes: the table stays open ``--watch`` seconds while another
process appends a batch line to 20 of the logs every 0.2 s (runs that train), and
the process's CPU time over that wall time is its share of a core: the digests of
the logs the first table left undigested, the logs that grew, the table's updates.

    python benchmarks/runs_screen.py             # 2,000 runs, 3 rounds, 10 s watched
    python benchmarks/runs_screen.py --quick     # 200 runs, 2 rounds, 2 s watched
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import header, median, ratio_line

GOAL_SECONDS = 0.5
GOAL_RUNS = 2000
#: The later passes' share of one core while runs train (a pass every 2 s).
GOAL_CORE_SHARE = 0.15
_APPENDER = """
import sys, time
paths, until = sys.argv[1:-1], float(sys.argv[-1])
line = '{"v":1,"type":"batch","t":%f,"epoch":9,"step":%d,"logs":{"loss":0.5}}\\n'
step = 0
while time.time() < until:
    for path in paths:
        with open(path, "a") as log:
            log.write(line % (time.time(), step))
    step += 1
    time.sleep(0.2)
"""


def write_logs(folder: Path, runs: int, batches: int) -> None:
    """``runs`` logs, half in ``folder``, half in a sibling; all indexed."""
    from kmon.engine.events import Batch, EpochEnd, FitStart, RunEnd, RunStart
    from kmon.engine.log.runs_index import register

    other = folder.parent / "elsewhere"
    for place in (folder, other):
        place.mkdir(parents=True, exist_ok=True)
    t = 1_764_000_000.0
    for n in range(runs):
        lines = [
            RunStart(script=f"/work/train_{n % 7}.py", pid=4_194_000, t=t + n).to_json(),
            FitStart(epochs=20, steps=50, t=t + n).to_json(),
        ]
        for index in range(batches):
            epoch, step = divmod(index, 50)
            logs = {"loss": 1.0 / (1 + index), "accuracy": index / (1 + index)}
            lines.append(Batch(epoch=epoch, step=step, logs=logs, t=t + n + index).to_json())
            if step == 49:
                logs = {"loss": 1.0 / (1 + index), "val_loss": 1.5 / (1 + epoch)}
                lines.append(EpochEnd(epoch=epoch, logs=logs, t=t + n + index).to_json())
        if n % 10:
            lines.append(RunEnd(status="ok", t=t + n + batches).to_json())
        path = (folder if n % 2 else other) / f"run-{n:05d}.jsonl"
        path.write_text("\n".join(lines) + "\n")
        register(path, t=t + n)


async def first_full_table(folder: Path, runs: int, watch: float = 0.0) -> tuple[float, ...]:
    """Wall and CPU seconds to the first full table, then the CPU share of a core
    over ``watch`` more seconds (0.0 when not watched), and wall and CPU seconds to
    the first frame with rows (the screenfuls a layout adds before its first frame;
    the rest come after it; CPU read when the poll saw it, 2 ms late at most)."""
    # Imported before the clock starts (main imports them once): the figure is the
    # screen's, not Python's start-up (benchmarks/startup.py times that).
    from kmon.tui.runs_app import RunsApp
    from kmon.tui.widgets.runs_table import RunsTable

    started, cpu = time.perf_counter(), time.process_time()
    app = RunsApp(folder)
    async with app.run_test(size=(160, 40)) as pilot:
        table = app.query_one(RunsTable)
        while runs and table.first_frame_at is None:
            await pilot.pause(0.002)
        first = (table.first_frame_at or time.perf_counter()) - started
        first_cpu = time.process_time() - cpu
        while table.row_count < runs:
            await pilot.pause(0.005)
            if time.perf_counter() - started > 60:
                raise SystemExit(f"only {table.row_count} of {runs} rows after 60 s")
        await pilot.pause()  # the frame that shows them
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
        share = 0.0
        if watch:
            growing = sorted(folder.glob("*.jsonl"))[:20]
            appender = subprocess.Popen(
                [sys.executable, "-c", _APPENDER, *map(str, growing), str(time.time() + watch)]
            )
            watched, used = time.perf_counter(), time.process_time()
            await pilot.pause(watch)
            share = (time.process_time() - used) / (time.perf_counter() - watched)
            appender.wait()
        return wall, cpu, share, first, first_cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="200 runs, 2 rounds")
    parser.add_argument("--runs", type=int, default=GOAL_RUNS, help="runs on disk")
    parser.add_argument("--batches", type=int, default=200, help="batch events per log")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds")
    parser.add_argument("--watch", type=float, default=10.0, help="seconds of later passes")
    args = parser.parse_args(argv)
    if args.quick:
        args.runs, args.rounds, args.watch = 200, 2, 2.0
    header("Runs screen: first full table")
    with tempfile.TemporaryDirectory(prefix="kmon-runs-screen-") as scratch:
        os.environ["XDG_STATE_HOME"] = str(Path(scratch) / "state")
        folder = Path(scratch) / "kmon-runs"
        written = time.perf_counter()
        write_logs(folder, args.runs, args.batches)
        size = sum(path.stat().st_size for path in Path(scratch).rglob("*.jsonl"))
        print(
            f"{args.runs} logs, {size / 2**20:.0f} MiB, written in "
            f"{time.perf_counter() - written:.1f} s"
        )
        import kmon.tui.runs_app  # noqa: F401 - see first_full_table

        load = os.getloadavg()[0]
        timed = [asyncio.run(first_full_table(folder, args.runs)) for _ in range(args.rounds)]
        share = asyncio.run(first_full_table(folder, args.runs, args.watch))[2]
        empty = Path(scratch) / "empty"
        os.environ["XDG_STATE_HOME"] = str(empty)
        bare = [asyncio.run(first_full_table(empty, 0)) for _ in range(args.rounds)]
    times, cpus = [t[0] for t in timed], [t[1] for t in timed]
    print(f"load average {load:.1f} on {os.cpu_count()} CPUs")
    print("rounds (wall, CPU): " + ", ".join(f"{t[0]:.3f} s, {t[1]:.3f} s" for t in timed))
    print(
        "first frame with rows (wall, CPU): "
        + ", ".join(f"{t[3]:.3f} s, {t[4]:.3f} s" for t in timed)
    )
    print(
        "no runs (Textual's own start): "
        + ", ".join(f"{t[0]:.3f} s, {t[1]:.3f} s" for t in bare)
    )
    firsts = [t[3] for t in timed]
    print(
        ratio_line(
            "first_rows_on_screen/goal",
            median(firsts) / GOAL_SECONDS,
            1.0,
            f"median {median(firsts):.3f} s to the first frame with rows, {args.runs} runs",
        )
    )
    beyond = median(times) - median([t[0] for t in bare])
    print(
        ratio_line(
            "over_empty_table/goal",
            beyond / GOAL_SECONDS,
            1.0,
            f"{beyond:.3f} s beyond an empty table's first frame",
        )
    )
    print(
        ratio_line(
            "first_full_table/goal",
            median(times) / GOAL_SECONDS,
            1.0,
            f"median {median(times):.3f} s for {args.runs} runs (goal {GOAL_SECONDS:.2f} s)",
        )
    )
    print(
        ratio_line(
            "first_full_table_cpu/goal",
            median(cpus) / GOAL_SECONDS,
            1.0,
            f"median {median(cpus):.3f} s of CPU, Textual's start included",
        )
    )
    print(
        ratio_line(
            "later_passes_core_share/goal",
            share / GOAL_CORE_SHARE,
            1.0,
            f"{share:.1%} of a core over {args.watch:.0f} s, 20 logs growing",
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
