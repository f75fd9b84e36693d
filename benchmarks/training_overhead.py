"""kmon's cost to training: the same script's own fit() time under kmon (the live
monitor in a real 120x40 pseudo-terminal, and headless with the event log), over
plain ``python script.py``; with Keras's progress bar and TensorBoard beside it.

The script (``_mlp_workload.py``: a small MLP on synthetic data, batch 32, about
1-2 ms a step on a CPU, where per-batch costs show most) times its own ``fit()``
calls after a warm-up fit in the same process and writes the times to a file, so
nothing kmon captures is needed. Configurations:

- ``plain``: ``python script.py``, ``verbose=0`` (the baseline);
- ``plain-again``: the same command in a second process: its ratio is what the
  machine's noise alone gives in this run, to read the others against;
- ``kmon``: ``kmon train script.py``, the live monitor;
- ``headless``: ``kmon train --headless --log FILE script.py``;
- ``progbar``: ``python script.py`` with Keras's own progress bar (``verbose=1``);
- ``tensorboard``: ``python script.py`` with ``TensorBoard(update_freq="batch")``;
- ``kmon-noprobes``, ``headless-noprobes``: the same two kmon runs with its training
  alarms off (the script calls ``set_probe_config(enabled=False)``), to tell the
  monitor's cost from the probes' (measured on their own by ``probe_overhead.py``);
- ``attach``: the monitor in a process of its own: ``kmon train --headless --log``
  with ``kmon attach LOG`` on a second 120x40 pty (what ``kmon train --detach``
  and ``kmon attach`` do), to tell the cost of sharing the training process (its
  GIL) from the cost of the monitor's work itself;
- ``plain-thread`` (not run unless asked for): ``python script.py`` with the script
  run in a background thread, as kmon runs it.

Every configuration runs on its own pty, drained by a reader thread as fast as it
is written (no program ever blocks on its terminal). The machine may be busy with
other work, which only ever adds time and comes and goes, so the processes take
turns: all of them start and warm up, then each round gives every configuration
one timed fit, one after the other, in an order that rotates from round to round,
while the others wait (idle) for their next turn.

A figure is the lower quartile of a configuration's epoch times over the
baseline's. On a shared 2-core VM a 1 ms step runs at its normal speed most of the
time, with slow spells of a tenth of a second or more where it takes 30-60% longer,
coming from outside the process; whole fits catch a random number of them, so one
fit over another moves by ±30%. Epochs of 500 steps (half a second: five monitor
redraws, and a sparkline update in every other one), pooled over the rounds, and
their lower quartile, which the spells (they only add time) hardly reach, give a
figure that holds from run to run. The ratio of medians, the median over rounds of
whole fits over the baseline's, the fastest fit over the baseline's fastest, and the
CPU time the whole process used during a fit over the baseline's (the monitor's own
threads included; time the VM's other tenants take is not counted) are printed
beside it as cross-checks.

    python benchmarks/training_overhead.py            # 12 rounds, ~5 minutes on 2 cores
    python benchmarks/training_overhead.py --units 384  # about 2 ms a step
    python benchmarks/training_overhead.py --quick    # a smoke run (figures are noise)
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import tempfile
import time
from pathlib import Path

from _common import (
    HERE,
    PtyProgram,
    clean_env,
    header,
    kmon_command,
    median,
    percentile,
    ratio_line,
)

WORKLOAD = HERE / "_mlp_workload.py"
CONFIGS = (
    "plain",
    "plain-again",
    "kmon",
    "headless",
    "progbar",
    "tensorboard",
    "kmon-noprobes",
    "headless-noprobes",
    "attach",
    "plain-thread",
)
DEFAULT_CONFIGS = tuple(name for name in CONFIGS if name != "plain-thread")
#: ``--quick`` runs one process per kind of command (plain, live, headless, attached,
#: progress bar): each imports TensorFlow, which alone takes seconds on 2 cores.
QUICK_CONFIGS = ("plain-again", "kmon", "headless", "progbar", "attach")
GOALS = {"kmon": 1.03, "headless": 1.02}
DESCRIPTIONS = {
    "plain-again": "a second plain process, the same command (A/A: this run's noise floor) / plain",
    "kmon": "kmon train (live TUI, 120x40 pty) / plain",
    "headless": "kmon train --headless --log / plain",
    "progbar": "Keras verbose=1 progress bar (pty) / plain",
    "tensorboard": 'TensorBoard(update_freq="batch") / plain',
    "kmon-noprobes": "kmon train, training alarms off (set_probe_config) / plain",
    "headless-noprobes": "kmon train --headless, training alarms off / plain",
    "attach": "kmon train --headless, kmon attach in another process (120x40 pty) / plain",
    "plain-thread": "python script.py, the script in a background thread / plain",
}
START_SECONDS = 600.0
FIT_SECONDS = 300.0


class Contender:
    """One configuration's process, waiting for its turns."""

    def __init__(self, name: str, folder: Path, args: argparse.Namespace) -> None:
        self.name = name
        self.result = folder / f"{name}.jsonl"
        self.go = str(folder / f"{name}-go-")
        env = clean_env(
            KMON_BENCH_RESULT=str(self.result),
            KMON_BENCH_STEPS=str(args.steps),
            KMON_BENCH_EPOCHS=str(args.epochs),
            KMON_BENCH_REPEATS=str(args.rounds),
            KMON_BENCH_VERBOSE="1" if name == "progbar" else "0",
            KMON_BENCH_GO=self.go,
            KMON_BENCH_UNITS=str(args.units),
        )
        if name == "tensorboard":
            env["KMON_BENCH_TENSORBOARD"] = str(folder / "tensorboard")
        if name.endswith("-noprobes"):
            env["KMON_BENCH_PROBES"] = "0"
        if name == "plain-thread":
            env["KMON_BENCH_THREAD"] = "1"
        self.log = str(folder / f"{name}.events.jsonl")
        kind = name.removesuffix("-noprobes")
        headless = [*kmon_command(), "train", "--headless", "--log", self.log, str(WORKLOAD)]
        argv = {
            "kmon": [*kmon_command(), "train", "--log", self.log, str(WORKLOAD)],
            "headless": headless,
            "attach": headless,
        }.get(kind, [sys.executable, str(WORKLOAD)])
        self.kind = kind
        self.program = PtyProgram(argv, cwd=folder, env=env)
        self.viewer: PtyProgram | None = None
        """``kmon attach`` on the run, for ``attach``."""

    def start_viewer(self) -> None:
        """For ``attach``: open the monitor on the run's log, in a process of its own."""
        if self.kind == "attach":
            argv = [*kmon_command(), "attach", self.log]
            self.viewer = PtyProgram(argv, cwd=self.result.parent, env=clean_env())

    def events(self) -> list[dict]:
        if not self.result.exists():
            return []
        return [json.loads(line) for line in self.result.read_text().splitlines() if line]

    def has(self, event: str, repeat: int | None = None) -> bool:
        return any(
            e["event"] == event and (repeat is None or e.get("repeat") == repeat)
            for e in self.events()
        )

    def wait(self, event: str, timeout: float, repeat: int | None = None) -> None:
        if not self.program.wait_until(lambda: self.has(event, repeat), timeout):
            code = self.program.finish(1)
            raise RuntimeError(
                f"{self.name}: no {event!r} (exit {code}); output ends:\n{self.program.output}"
            )

    def fit(self, repeat: int) -> tuple[float, list[float], float]:
        """Give the process its turn: the seconds its fit took, each epoch's, and the
        CPU seconds the process used meanwhile."""
        Path(f"{self.go}{repeat}").touch()
        self.wait("fit", FIT_SECONDS, repeat)
        (fit,) = [e for e in self.events() if e["event"] == "fit" and e["repeat"] == repeat]
        return fit["seconds"], fit["epochs"], fit["cpu"]

    def close(self) -> None:
        try:
            self.wait("done", 60)
            if self.kind == "kmon":
                self.program.send("q")  # the finished run stays on screen until then
            code = self.program.finish(60)
            if code != 0:
                raise RuntimeError(f"{self.name}: exit code {code}:\n{self.program.output}")
            if self.viewer is not None:
                self.viewer.send("q")
                code = self.viewer.finish(60)
                if code != 0:
                    raise RuntimeError(f"{self.name}: kmon attach exit code {code}")
        finally:
            self.kill()

    def kill(self) -> None:
        self.program.kill()
        if self.viewer is not None:
            self.viewer.kill()


class Measured:
    """What the rounds gave: per configuration its epochs' times, its fits' times over
    the baseline's fit in the same round, and its fastest fit."""

    def __init__(self, configs: list[str]) -> None:
        self.epochs: dict[str, list[float]] = {name: [] for name in configs}
        self.ratios: dict[str, list[float]] = {name: [] for name in configs if name != "plain"}
        self.cpu_ratios: dict[str, list[float]] = {name: [] for name in self.ratios}
        self.fastest: dict[str, float] = {}


def measure(configs: list[str], args: argparse.Namespace) -> Measured:
    measured = Measured(configs)
    ratios, fastest = measured.ratios, measured.fastest
    base_times: list[float] = []
    with tempfile.TemporaryDirectory(prefix="kmon-bench-") as tmp:
        contenders: list[Contender] = []
        try:
            for name in configs:
                contenders.append(Contender(name, Path(tmp), args))
            for contender in contenders:
                contender.wait("ready", START_SECONDS)
                contender.start_viewer()
            for round_index in range(args.rounds):
                shift = round_index % len(contenders)
                times = {}
                cpu = {}
                for contender in contenders[shift:] + contenders[:shift]:
                    times[contender.name], epochs, cpu[contender.name] = contender.fit(round_index)
                    measured.epochs[contender.name] += epochs
                for name in measured.cpu_ratios:
                    measured.cpu_ratios[name].append(cpu[name] / cpu["plain"])
                for name, seconds in times.items():
                    fastest[name] = min(seconds, fastest.get(name, seconds))
                base = times["plain"]
                base_times.append(base)
                line = f"round {round_index + 1}/{args.rounds}: plain {base:.2f}s"
                for name in ratios:
                    ratios[name].append(times[name] / base)
                    line += f" · {name} {times[name]:.2f}s ({times[name] / base:.3f})"
                print(line, flush=True)
            for contender in contenders:
                contender.close()
        finally:
            for contender in contenders:
                contender.kill()
    steps = args.steps * args.epochs
    print(
        f"baseline fit: median {median(base_times):.2f}s for {steps} steps "
        f"({median(base_times) / steps * 1000:.2f} ms/step)"
    )
    return measured


#: The quantile of epoch times compared: the machine's slow spells only ever add
#: time, so a low quantile of short windows sees each configuration's own cost.
QUANTILE = 0.25


def report(measured: Measured, args: argparse.Namespace) -> None:
    epochs = measured.epochs
    base = percentile(epochs["plain"], QUANTILE)
    overhead = {name: percentile(epochs[name], QUANTILE) / base for name in measured.ratios}
    for name, values in measured.ratios.items():
        fastest = measured.fastest[name] / measured.fastest["plain"]
        medians = median(epochs[name]) / median(epochs["plain"])
        detail = (
            f"{DESCRIPTIONS[name]} · lower quartile of {len(epochs[name])} epochs of "
            f"{args.steps} steps over the baseline's; medians {medians:.3f}; whole fits, "
            f"median of {args.rounds} pairs {median(values):.3f} "
            f"[{min(values):.3f}..{max(values):.3f}], fastest over fastest {fastest:.3f}; "
            f"process CPU time, median of pairs {median(measured.cpu_ratios[name]):.3f}"
        )
        print(ratio_line(name, overhead[name], GOALS.get(name), detail))
    if "kmon" in overhead:
        for other in ("progbar", "tensorboard"):
            if other in overhead:
                cheaper = overhead["kmon"] < overhead[other]
                print(f"kmon cheaper than {other}: {'yes' if cheaper else 'NO'}")


def parse(argv: list[str] | None) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run (figures are noise)")
    parser.add_argument("--rounds", type=int, default=12, help="rounds (pairs with the baseline)")
    parser.add_argument("--steps", type=int, default=500, help="steps per epoch")
    parser.add_argument("--epochs", type=int, default=4, help="epochs per timed fit")
    parser.add_argument(
        "--units",
        type=int,
        default=64,
        help="width of the MLP's two hidden layers: 64 gives about 1 ms a step on a "
        "CPU (where per-batch costs show most), 384 about 2",
    )
    parser.add_argument(
        "--configs",
        help=f"comma-separated, among {', '.join(CONFIGS)} (plain always runs; default: "
        f"all but plain-thread, or {', '.join(QUICK_CONFIGS)} with --quick)",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.steps, args.epochs = 1, 150, 1
    if args.configs is None:
        args.configs = ",".join(QUICK_CONFIGS if args.quick else DEFAULT_CONFIGS)
    configs = ["plain"] + [c for c in args.configs.split(",") if c and c != "plain"]
    unknown = set(configs) - set(CONFIGS)
    if unknown:
        parser.error(f"unknown configuration(s): {', '.join(sorted(unknown))}")
    if "tensorboard" in configs and importlib.util.find_spec("tensorboard") is None:
        print("skipping tensorboard: not installed (pip install tensorboard)")
        configs.remove("tensorboard")
    return args, configs


def main(argv: list[str] | None = None) -> int:
    args, configs = parse(argv)
    header("training overhead")
    started = time.monotonic()
    report(measure(configs, args), args)
    print(f"took {time.monotonic() - started:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
