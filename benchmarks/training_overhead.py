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

A figure is the median over rounds of a configuration's fit time over the plain
fit's in the same round, with a 95% bootstrap interval over rounds; the A/A row
(``plain-again``) shows what the machine's noise alone gives. A goal counts as met
only when the whole interval is under it (``_overhead_figures.py``). Besides wall
time, each process reports the CPU time of each of its threads during every fit
(``_kmon_meter.py``), which a busy machine moves far less: kmon's threads (the
event-log writer, the output capture, the UI or headless loop) in µs a training
step, and the training thread's excess over plain's. ``meter`` (live, not timed
against plain) times kmon's callback hooks, probes and fold from inside.

The steps. Beside each fit's time, a second wall ratio takes only its epochs'
steps, each epoch from its first batch's begin to its last batch's end. Between
epochs TensorFlow destroys the epoch's data iterator, which waits for tf.data's
autotuning thread to end; in about a third of fits, plain or not, that thread
sleeps out its period first, 0.2-0.9 s on a 1.8 s fit (a gdb backtrace caught
``RootDataset::Iterator::~Iterator`` waiting on ``Model::OptimizeLoop``'s timed
wait). The steps' ratio leaves that out, and with it kmon's fit and epoch hooks
(the CPU bound below counts them); its note gives the time a fit spent outside
its steps, against plain's.

The CPU bound. On the project's 2-core VM the wall ratio does not resolve a few
percent, however the rounds are laid out: the vCPU's own speed moves (two plain
fits back to back in one process differ by ±10%, interquartile, and their CPU
times as much; the time threads wait for a CPU is 1-2% of a fit, so it is not
other processes). So each round also gives an upper bound from CPU time: the
meter's kmon hooks and probes on the training thread plus all kmon's other
threads' CPU, a step, over plain's step time. With a core free for kmon's threads
a thread delays training only while it holds the GIL, and holds it only while it
runs, so the wall ratio is at most that, but for the wake-ups after such waits
(the training thread's extra context switches a step, printed beside it). Its
interval is a few thousandths wide. ``--save FILE`` keeps every round's raw
results (CPU and run-queue waits by thread, context switches) to study.

Modes. ``--tf-threads 1`` runs TensorFlow on one intra-op and one inter-op thread
in every process (set before its first op: ``_tf_threads/sitecustomize.py``), so
that on a 2-core machine kmon's threads find a core free, as on any real training
machine, and what remains is kmon's cost on training's critical path: its
callback, and the GIL time its threads take. Without it TensorFlow keeps its
default threads. ``--workload cnn`` trains a small CNN on 32x32 images (10-30 ms a
step) instead of the 1 ms MLP.

    python benchmarks/training_overhead.py            # 12 rounds, ~5 minutes on 2 cores
    python benchmarks/training_overhead.py --units 384  # about 2 ms a step
    python benchmarks/training_overhead.py --tf-threads 1   # TF on one thread each
    python benchmarks/training_overhead.py --workload cnn   # the realistic step
    python benchmarks/training_overhead.py --workload cnn --warmup-seconds 90  # steady state
    python benchmarks/training_overhead.py --budget 150 --save r.json  # a lease's share
    python benchmarks/training_overhead.py --quick    # a smoke run (figures are noise)
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import _overhead_figures as figures
from _common import HERE, PtyProgram, clean_env, header, kmon_command, median

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
    "meter",
    "plain-thread",
)
DEFAULT_CONFIGS = tuple(name for name in CONFIGS if name != "plain-thread")
#: ``--quick`` runs three processes once (plain, headless, the metered live monitor): each
#: imports TensorFlow, which alone takes seconds on 2 cores.
QUICK_CONFIGS = ("headless", "meter")
#: Goals by workload: the 1 ms MLP (measured with --tf-threads 1), the realistic CNN.
GOALS = {"mlp": {"kmon": 1.03, "headless": 1.02}, "cnn": {"kmon": 1.01, "headless": 1.01}}

DESCRIPTIONS = {
    "plain-again": "a second plain process, the same command (A/A: this run's noise floor) / plain",
    "kmon": "kmon train (live TUI, 120x40 pty) / plain",
    "headless": "kmon train --headless --log / plain",
    "progbar": "Keras verbose=1 progress bar (pty) / plain",
    "tensorboard": 'TensorBoard(update_freq="batch") / plain',
    "kmon-noprobes": "kmon train, training alarms off (set_probe_config) / plain",
    "headless-noprobes": "kmon train --headless, training alarms off / plain",
    "attach": "kmon train --headless, kmon attach in another process (120x40 pty) / plain",
    "meter": "kmon train, its hooks, probes and fold timed inside (not a wall figure) / plain",
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
            KMON_BENCH_MODEL=args.workload,
            KMON_BENCH_WARMUP_SECONDS=str(args.warmup_seconds),
        )
        if args.tf_threads:
            env["KMON_BENCH_TF_THREADS"] = str(args.tf_threads)
            paths = [str(HERE / "_tf_threads"), env.get("PYTHONPATH", "")]
            env["PYTHONPATH"] = os.pathsep.join(path for path in paths if path)
        if name == "meter":
            env["KMON_BENCH_METER"] = "1"
        if name == "tensorboard":
            env["KMON_BENCH_TENSORBOARD"] = str(folder / "tensorboard")
        if name.endswith("-noprobes"):
            env["KMON_BENCH_PROBES"] = "0"
        if name == "plain-thread":
            env["KMON_BENCH_THREAD"] = "1"
        self.log = str(folder / f"{name}.events.jsonl")
        kind = "kmon" if name == "meter" else name.removesuffix("-noprobes")
        headless = [*kmon_command(), "train", "--headless", "--log", self.log, str(WORKLOAD)]
        argv = {
            "kmon": [*kmon_command(), "train", "--log", self.log, str(WORKLOAD)],
            "headless": headless,
            "attach": headless,
        }.get(kind, [sys.executable, str(WORKLOAD)])
        self.kind = kind
        self.argv_kind = "kmon" if kind == "kmon" else None
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

    def fit(self, repeat: int) -> dict:
        """Give the process its turn: its ``fit`` result (``_mlp_workload.py``)."""
        Path(f"{self.go}{repeat}").touch()
        self.wait("fit", FIT_SECONDS, repeat)
        (fit,) = [e for e in self.events() if e["event"] == "fit" and e["repeat"] == repeat]
        return fit

    def close(self) -> None:
        try:
            self.wait("done", 60)
            if self.argv_kind == "kmon":
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
    """What the rounds gave: each round's ``fit`` result by configuration."""

    def __init__(self) -> None:
        self.rounds: list[dict[str, dict]] = []
        self.ready: dict[str, dict] = {}

    def save(self, path: Path) -> None:
        path.write_text(json.dumps({"ready": self.ready, "rounds": self.rounds}))


def measure(configs: list[str], args: argparse.Namespace) -> Measured:
    measured = Measured()
    with tempfile.TemporaryDirectory(prefix="kmon-bench-") as tmp:
        contenders: list[Contender] = []
        try:
            for name in configs:
                contenders.append(Contender(name, Path(tmp), args))
            for contender in contenders:
                contender.wait("ready", START_SECONDS)
                contender.start_viewer()
                (ready,) = [e for e in contender.events() if e["event"] == "ready"]
                measured.ready[contender.name] = ready
            began = time.monotonic()
            for round_index in range(args.rounds):
                spent = time.monotonic() - began
                if args.budget and round_index >= 2 and spent * (1 + 1 / round_index) > args.budget:
                    # One more round would overrun: report the rounds done rather
                    # than lose them all to an outer timeout (a lent machine's lease).
                    print(f"time budget: stopping after {round_index} rounds ({spent:.0f}s)")
                    return measured
                shift = round_index % len(contenders)
                fits = {}
                for contender in contenders[shift:] + contenders[:shift]:
                    fits[contender.name] = contender.fit(round_index)
                measured.rounds.append(fits)
                if args.save:  # after every round: a run cut short keeps what it measured
                    measured.save(args.save)
                base = fits["plain"]["seconds"]
                line = f"round {round_index + 1}/{args.rounds}: plain {base:.2f}s"
                for name, fit in fits.items():
                    if name != "plain":
                        line += f" · {name} {fit['seconds']:.2f}s ({fit['seconds'] / base:.3f})"
                print(line, flush=True)
            for contender in contenders:
                contender.close()
        finally:
            for contender in contenders:
                contender.kill()
    return measured


def report(measured: Measured, args: argparse.Namespace) -> None:
    steps = measured.rounds[0]["plain"]["steps"]
    base = median([r["plain"]["seconds"] for r in measured.rounds])
    threads = measured.ready["plain"].get("tf_threads") or "default"
    print(
        f"workload {args.workload}: plain fit median {base:.2f}s for {steps} steps "
        f"({base / steps * 1000:.2f} ms/step) · TensorFlow threads (intra, inter): "
        f"{threads} · {len(measured.rounds)} rounds"
    )
    goals = GOALS[args.workload] if args.tf_threads == 1 or args.workload == "cnn" else {}
    wall = figures.wall_figures(measured.rounds, goals, DESCRIPTIONS)
    wall += figures.steps_figures(measured.rounds, goals, DESCRIPTIONS)
    for figure in wall:
        print(figures.ratio_line(figure))
    timer = measured.ready.get("meter", {}).get("timer_ns", 0)
    wake = wake_up_us()
    print(f"a thread's wake-up on this machine: {wake:.1f} µs (half an Event ping-pong)")
    bound = figures.bound_figures(measured.rounds, goals, timer, wake)
    for figure in bound:
        if figure.goal is not None:
            print(figures.ratio_line(figure))
    print(figures.table(wall + bound + figures.cpu_figures(measured.rounds, timer)))


def wake_up_us(trips: int = 2000) -> float:
    """A thread's wake-up here: half the median round trip of two threads handing
    an Event back and forth (a futex wake and the GIL's handover each way)."""
    ping, pong = threading.Event(), threading.Event()

    def answer() -> None:
        for _ in range(trips):
            ping.wait()
            ping.clear()
            pong.set()

    other = threading.Thread(target=answer, daemon=True)
    other.start()
    times = []
    for _ in range(trips):
        start = time.perf_counter_ns()
        ping.set()
        pong.wait()
        pong.clear()
        times.append(time.perf_counter_ns() - start)
    other.join()
    return median(times) / 2000


def parse(argv: list[str] | None) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run (figures are noise)")
    parser.add_argument("--rounds", type=int, default=12, help="rounds (pairs with the baseline)")
    parser.add_argument(
        "--steps", type=int, help="steps per epoch (default 500; 50 with --workload cnn)"
    )
    parser.add_argument("--epochs", type=int, default=4, help="epochs per timed fit")
    parser.add_argument(
        "--warmup-seconds",
        type=float,
        default=4.0,
        help="each process trains at least this long before the timed fits (default 4). "
        "kmon's early schedule of probes (a model's first 2 epochs, up to 5%% of their "
        "time) leaves a debt that its budget pays back over the next tens of seconds, "
        "probing nothing: 60 or more measures the steady state of a long run, the "
        "probes at their budget",
    )
    parser.add_argument(
        "--units",
        type=int,
        default=64,
        help="width of the MLP's two hidden layers: 64 gives about 1 ms a step on a "
        "CPU (where per-batch costs show most), 384 about 2",
    )
    parser.add_argument(
        "--workload",
        choices=("mlp", "cnn"),
        default="mlp",
        help="mlp: about 1 ms a step (default); cnn: a small CNN on 32x32 images, 10-30 ms",
    )
    parser.add_argument(
        "--tf-threads",
        type=int,
        default=0,
        help="TensorFlow's intra-op and inter-op threads in every process (0: its default)",
    )
    parser.add_argument(
        "--configs",
        help=f"comma-separated, among {', '.join(CONFIGS)} (plain always runs; default: "
        f"all but plain-thread, or {', '.join(QUICK_CONFIGS)} with --quick)",
    )
    parser.add_argument(
        "--budget",
        type=float,
        default=0,
        help="seconds of rounds at most: stop before a round that would overrun, and "
        "report the rounds done (at least 2; 0: no limit)",
    )
    parser.add_argument(
        "--save", type=Path, help="also write every round's raw results here (JSON), to study"
    )
    args = parser.parse_args(argv)
    if args.steps is None:
        args.steps = 50 if args.workload == "cnn" else 500
    if args.quick:
        args.rounds, args.steps, args.epochs = 1, 20 if args.workload == "cnn" else 150, 1
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
    measured = measure(configs, args)
    if args.save:
        measured.save(args.save)
    report(measured, args)
    print(f"took {time.monotonic() - started:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
