"""`kmon ps` and `kmon stop ID` over a big runs folder.

The folder holds ``--runs`` real event logs of about 300 KB each, written with
kmon's own event classes: a ``run_start`` naming a process (this benchmark's pid,
with a start time that is not its own: the run is gone), about 1,500 batch events
with an epoch end every 100, and for 9 logs in 10 a ``run_end`` (the others are
stale runs). Timed, the median of ``--rounds``:

- ``list_runs`` in-process (what `kmon ps` spends reading the folder);
- ``kmon ps`` as a command, from spawn to exit (Python's start-up included);
- ``kmon stop ID`` of a finished run, as a command (it finds the log by name);
- ``kmon ps`` on an empty folder: the command's start-up, taken off the two above
  for the figures "over start-up" (on a loaded machine start-up alone can pass
  the goal).

The goal: at most 0.5 s for 2,000 runs. With ``--against REV`` the same folder is
read by ``engine/log/runs_folder.py`` as it was at git revision REV (loaded into a temporary
module, in-process), for a before/after figure.

    python benchmarks/ps_speed.py                      # 2,000 logs, 5 rounds
    python benchmarks/ps_speed.py --against 230e0f1    # and the code of that revision
    python benchmarks/ps_speed.py --quick              # 200 logs, 2 rounds
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import HERE, header, kmon_command, median, ratio_line

from kmon.engine.events import Batch, EpochEnd, FitStart, RunEnd, RunStart
from kmon.engine.log.process_identity import of_this_process
from kmon.engine.log.runs_folder import list_runs

GOAL_SECONDS = 0.5
GOAL_RUNS = 2000
LOG_BYTES = 300 * 1024


def log_body(finished: bool) -> bytes:
    """Everything after the first line: a fit's events, ~LOG_BYTES in all."""
    t = 1_764_000_000.0
    lines = [FitStart(epochs=1000, steps=100, outputs=["dense"], t=t).to_json()]
    size, index = 0, 0
    while size < LOG_BYTES - 400:
        epoch, step = divmod(index, 100)
        t += 0.01
        loss = 1.0 / (1.0 + index)
        lines.append(
            Batch(
                epoch=epoch,
                step=step,
                size=32,
                logs={"loss": loss, "accuracy": 0.5},
                values={"loss": loss, "accuracy": 0.5},
                t=t,
            ).to_json()
        )
        if step == 99:
            lines.append(EpochEnd(epoch=epoch, logs={"loss": loss, "accuracy": 0.5}, t=t).to_json())
        size += len(lines[-1]) + 1
        index += 1
    if finished:
        lines.append(RunEnd(status="ok", fits=1, t=t).to_json())
    return ("\n".join(lines) + "\n").encode()


def write_folder(folder: Path, count: int) -> list[str]:
    """``count`` logs; the ids of the finished ones."""
    me = of_this_process()
    bodies = {True: log_body(True), False: log_body(False)}
    finished = []
    for index in range(count):
        run_id = f"20261201-{index:06d}-train"
        start = RunStart(
            script="/bench/train.py",
            argv=["/bench/train.py"],
            pid=me.pid,
            start_time=(me.start_time or 0) + 1,  # not this process: a gone run
            boot_id=me.boot_id,
            t=1_764_000_000.0 + index,
        )
        done = index % 10 != 0
        with open(folder / f"{run_id}.jsonl", "wb") as handle:
            handle.write(start.to_json().encode() + b"\n")
            handle.write(bodies[done])
        if done:
            finished.append(run_id)
    return finished


def timed(function, rounds: int) -> list[float]:
    seconds = []
    for _ in range(rounds):
        started = time.perf_counter()
        function()
        seconds.append(time.perf_counter() - started)
    return seconds


def run_command(args: list[str], expected: int) -> None:
    done = subprocess.run(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if done.returncode != expected:
        raise RuntimeError(f"{args[-3:]} exited {done.returncode}: {done.stderr.strip()}")


def runs_module_at(revision: str):
    """``engine/log/runs_folder.py`` as it was at ``revision``, as a module of its own."""
    source = subprocess.run(
        ["git", "show", f"{revision}:engine/log/runs_folder.py"],
        cwd=HERE.parent,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as handle:
        handle.write(source)
    spec = importlib.util.spec_from_file_location(f"runs_at_{revision}", handle.name)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    try:
        spec.loader.exec_module(module)  # stdlib imports only, before this change
    finally:
        os.unlink(handle.name)
    return module


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="200 logs, 2 rounds")
    parser.add_argument("--runs", type=int, default=GOAL_RUNS, help="logs in the folder")
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds per figure")
    parser.add_argument("--against", metavar="REV", help="also time engine/log/runs_folder.py at REV")
    args = parser.parse_args(argv)
    if args.quick:
        args.runs, args.rounds = 200, 2
    header("kmon ps speed")
    kmon = kmon_command()
    with tempfile.TemporaryDirectory(prefix="kmon-bench-ps-") as tmp:
        folder = Path(tmp)
        started = time.perf_counter()
        finished = write_folder(folder, args.runs)
        total = sum(path.stat().st_size for path in folder.iterdir())
        print(
            f"wrote {args.runs:,} logs ({total / args.runs / 1024:.0f} KB each, "
            f"{total / 2**20:.0f} MiB) in {time.perf_counter() - started:.1f}s"
        )
        listed = list_runs(folder)
        if len(listed) != args.runs or sum(info.status == "ok" for info in listed) != len(finished):
            raise RuntimeError(f"list_runs found {len(listed)} runs, not {args.runs}")
        in_process = timed(lambda: list_runs(folder), args.rounds)
        empty = folder / "empty"
        empty.mkdir()
        target = finished[len(finished) // 2]
        commands = {
            "ps": ([*kmon, "ps", "--runs-dir", tmp], 0),
            "startup": ([*kmon, "ps", "--runs-dir", str(empty)], 0),
            "stop": ([*kmon, "stop", target, "--runs-dir", tmp], 2),
        }
        seconds: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.rounds):  # interleaved: a load that drifts hits all three
            for name, (command, code) in commands.items():
                seconds[name] += timed(functools.partial(run_command, command, code), 1)
        ps, startup, stop = seconds["ps"], seconds["startup"], seconds["stop"]
        print(
            f"list_runs in-process: median {median(in_process):.3f}s · kmon ps: median "
            f"{median(ps):.3f}s · kmon stop ID: median {median(stop):.3f}s · start-up (kmon ps "
            f"of an empty folder): median {median(startup):.3f}s "
            f"({args.rounds} rounds, {args.runs:,} logs)"
        )
        if args.against:
            old = runs_module_at(args.against)
            old_list = timed(lambda: old.list_runs(folder), args.rounds)
            old_find = timed(lambda: old.find_run(folder, target), args.rounds)
            print(
                f"engine/log/runs_folder.py at {args.against}: list_runs median {median(old_list):.3f}s · "
                f"find_run(ID) median {median(old_find):.3f}s"
            )
            print(
                ratio_line(
                    "list_runs/list_runs_before",
                    median(in_process) / median(old_list),
                    None,
                    f"against {args.against}, in-process",
                )
            )
    detail = f"goal <= {GOAL_SECONDS:g} s for {GOAL_RUNS:,} runs; here {args.runs:,}"
    print(ratio_line("list_runs/goal", median(in_process) / GOAL_SECONDS, 1.0, detail))
    print(ratio_line("kmon_ps/goal", median(ps) / GOAL_SECONDS, 1.0, detail + ", start-up in"))
    floor = median(startup)
    for name, seconds in (("kmon_ps", median(ps)), ("kmon_stop", median(stop))):
        over = (seconds - floor) / GOAL_SECONDS
        print(ratio_line(f"{name}_over_startup/goal", over, 1.0, detail))
    return 0


if __name__ == "__main__":
    sys.exit(main())
