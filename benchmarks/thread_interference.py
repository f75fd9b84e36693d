"""What kmon's other threads cost the training thread, timed in one process: the
training thread's steps with the monitor's and the event log's threads at work,
against the same steps while their work is held back.

Across processes, the 2-core VM does not resolve a few percent: the vCPU's own
speed differs from process to process by more (``training_overhead.py``'s A/A
row). Within one process, epochs a second apart share it. So ``kmon train`` runs
the benchmark's MLP (``_mlp_workload.py``, TensorFlow on one intra-op and one
inter-op thread) with ``KMON_BENCH_PAUSE=1``: in each block of four 1,000-step
epochs the middle two run with kmon's other threads idle (a drain that returns
nothing, no redraw, the log's pending events left waiting:
``_kmon_meter.install_pause``), and after every epoch they catch up, outside the
timed steps: the next epoch begins once the channel was drained empty and the
log's pending events are written (so no epoch's work spills into the next). The callback's hooks and the probes run in every epoch alike, so
the ratio is the other threads' cost alone: their GIL time, the wake-ups, what
they do to the caches and to TensorFlow's own thread on the other core.

Figures, medians over blocks with 95% bootstrap intervals:

- ``at work / idle``: a block's two epochs with the threads at work over its two
  with them idle, the steps' wall time (and the training thread's CPU time);
- ``A/A``: the block's first epoch over its last (both at work), and its second
  over its third (both idle): what the order and the machine alone give.

The threads' own CPU a step (``_kmon_meter``) is printed beside it: the CPU bound
of ``training_overhead.py`` counts it all as the training thread's loss.

    python benchmarks/thread_interference.py              # live and headless, ~6 min
    python benchmarks/thread_interference.py --modes live --blocks 12
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import _overhead_figures as figures
from _common import HERE, PtyProgram, clean_env, header, kmon_command, median

WORKLOAD = HERE / "_mlp_workload.py"
RUN_SECONDS = 1800.0


def run(mode: str, folder: Path, args: argparse.Namespace) -> list[dict]:
    """One ``kmon train`` process (``live`` or ``headless``): its timed fits."""
    result = folder / f"{mode}.jsonl"
    env = clean_env(
        KMON_BENCH_RESULT=str(result),
        KMON_BENCH_STEPS=str(args.steps),
        KMON_BENCH_EPOCHS=str(4 * args.blocks_per_fit),
        KMON_BENCH_REPEATS=str(args.blocks // args.blocks_per_fit),
        KMON_BENCH_WARMUP_EPOCHS="1" if args.quick else "2",
        KMON_BENCH_WARMUP_SECONDS="0" if args.quick else "4",
        KMON_BENCH_TF_THREADS="1",
        KMON_BENCH_PAUSE="1",
        KMON_BENCH_CATCH_UP=str(args.catch_up),
        PYTHONPATH=os.pathsep.join(
            p for p in [str(HERE / "_tf_threads"), os.environ.get("PYTHONPATH", "")] if p
        ),
    )
    log = str(folder / f"{mode}.events.jsonl")
    argv = [
        *kmon_command(),
        "train",
        *(["--headless"] if mode == "headless" else []),
        "--log",
        log,
        str(WORKLOAD),
    ]
    program = PtyProgram(argv, cwd=folder, env=env)

    def events() -> list[dict]:
        return (
            [json.loads(line) for line in result.read_text().splitlines()]
            if result.exists()
            else []
        )

    try:
        if not program.wait_until(lambda: any(e["event"] == "done" for e in events()), RUN_SECONDS):
            raise RuntimeError(f"{mode}: no result; output ends:\n{program.output[-3000:]}")
        if mode == "live":
            program.send("q")  # the finished run stays on screen until then
        code = program.finish(60)
        if code != 0:
            raise RuntimeError(f"{mode}: exit code {code}:\n{program.output[-3000:]}")
    finally:
        program.kill()
    return [e for e in events() if e["event"] == "fit"]


def blocks(fits: list[dict], key: str) -> list[list[float]]:
    """Each block of four epochs' ``key`` values (on, idle, idle, on)."""
    out = []
    for fit in fits:
        values, paused = fit[key], fit["paused"]
        if not all(fit["caught_up"]):
            raise RuntimeError("kmon's threads did not catch up within 10 s of an epoch")
        for start in range(0, len(values) - 3, 4):
            assert paused[start : start + 4] == [False, True, True, False], paused
            out.append(values[start : start + 4])
    return out


def report(mode: str, fits: list[dict]) -> list[tuple[str | None, figures.Figure]]:
    """The mode's figures, each with the name of its ratio line (None: a µs row)."""
    steps = fits[0]["steps"] / len(fits[0]["steps_seconds"])
    walls, cpus = blocks(fits, "steps_seconds"), blocks(fits, "epochs_cpu")

    def ratio(name: str, values: list[float]) -> figures.Figure:
        return figures.Figure(f"{mode}: {name}", values)

    others = [_others_us(fit) for fit in fits]
    step = median([sum(f["steps_seconds"]) / f["steps"] for f in fits]) * 1e6
    print(f"{mode}: {len(walls)} blocks of 4 × {int(steps)} steps · a step {step:.0f} µs")
    return [
        (
            f"{mode}_steps_at_work/idle",
            ratio("at work / idle, steps' wall", [(b[0] + b[3]) / (b[1] + b[2]) for b in walls]),
        ),
        (f"{mode}_aa_at_work", ratio("A/A, at work (first / last)", [b[0] / b[3] for b in walls])),
        (f"{mode}_aa_idle", ratio("A/A, idle (second / third)", [b[1] / b[2] for b in walls])),
        (
            f"{mode}_training_cpu_at_work/idle",
            ratio(
                "at work / idle, training thread's CPU",
                [(b[0] + b[3]) / (b[1] + b[2]) for b in cpus],
            ),
        ),
        (
            None,
            figures.Figure(
                f"{mode}: steps' wall, at work - idle",
                [1e6 * ((b[0] + b[3]) - (b[1] + b[2])) / 2 / steps for b in walls],
                unit="µs",
            ),
        ),
        (None, figures.Figure(f"{mode}: kmon's other threads' CPU, whole fit", others, unit="µs")),
    ]


def _others_us(fit: dict) -> float:
    """kmon's threads but the training thread (and TensorFlow's), CPU µs a step."""
    return figures.per_step_us(fit, [r for r in fit["threads"] if r not in ("training", "native")])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--modes", default="live,headless", help="live, headless or both")
    parser.add_argument("--blocks", type=int, default=12, help="blocks of 4 epochs, per mode")
    parser.add_argument("--blocks-per-fit", type=int, default=3)
    parser.add_argument("--steps", type=int, default=1000, help="steps an epoch")
    parser.add_argument(
        "--catch-up", type=float, default=0.2, help="seconds after each epoch's work is done"
    )
    parser.add_argument("--quick", action="store_true", help="a smoke run (figures are noise)")
    args = parser.parse_args(argv)
    if args.quick:
        args.modes, args.blocks, args.blocks_per_fit, args.steps = "live", 1, 1, 100
    header("kmon's other threads, at work against idle, in one training process")
    rows: list[tuple[str | None, figures.Figure]] = []
    with tempfile.TemporaryDirectory(prefix="kmon-threads-") as folder:
        for mode in args.modes.split(","):
            rows += report(mode, run(mode, Path(folder), args))
    for name, row in rows:
        if name is not None:
            low, high = row.interval
            print(f"ratio {name}: {row.median:.3f} [{low:.3f}, {high:.3f}]")
    print(figures.table([row for _, row in rows]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
