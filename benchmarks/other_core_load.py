"""How much wake-ups on the other core slow a training thread on this machine: the
calibration behind reading kmon's other threads' CPU as a cost to training.

A plain Keras MLP (the training-overhead benchmark's, TensorFlow on one intra-op
and one inter-op thread) trains 1,000-step epochs in this process. Between
epochs a burner process, pinned to CPU 1, switches its pattern: idle, or waking
``HZ`` times a second to spin ``BUSY`` µs (``HZ:BUSY``). Every pattern runs once
a round, in an order that rotates and reverses; an ``off2`` pattern (idle again)
is the A/A control. Per pattern, medians over rounds of the ratio to the same
round's idle epoch: the steps' wall time, the training thread's CPU time, and
the CPU of TensorFlow's own threads (on a 2-core machine its inter-op thread
shares the second core with whatever else runs there), with 95% bootstrap
intervals; and the training thread's context switches a step.

kmon's other threads, live at 1,000 steps a second, use about 20 µs a step: 2%
of a core, in wake-ups at 10 Hz (the monitor's frames) and 2 Hz (the log's
writer). The default patterns bracket that: 1% at 10, 100 and 1,000 Hz, 2% at
1,000 Hz, and 10% at 100 Hz.

    python benchmarks/other_core_load.py                # 10 rounds, ~3 minutes
    python benchmarks/other_core_load.py --patterns off,off2,10:2000 --rounds 16
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time

import _overhead_figures as figures
from _common import header, median

DEFAULT_PATTERNS = "off,off2,10:1000,100:100,1000:10,1000:20,100:1000"
#: The burner: reads patterns from stdin, one a line ("off", "quit" or "HZ:BUSY").
BURNER = r"""
import os, select, sys, time
os.sched_setaffinity(0, {1})
pattern = "off"
while pattern != "quit":
    if pattern == "off":
        pattern = sys.stdin.readline().strip() or "quit"
        continue
    hz, busy = pattern.split(":")
    period, busy = 1.0 / float(hz), float(busy) * 1e-6
    wake = time.perf_counter()
    while True:
        start = time.perf_counter()
        while time.perf_counter() - start < busy:
            pass
        wake += period
        ready, _, _ = select.select([sys.stdin], [], [], max(0.0, wake - time.perf_counter()))
        if ready:
            pattern = sys.stdin.readline().strip() or "quit"
            break
"""


def _task(tid: int | str) -> tuple[int, int]:
    """A thread's CPU ns and its context switches."""
    with open(f"/proc/self/task/{tid}/schedstat", encoding="ascii") as handle:
        cpu = int(handle.read().split()[0])
    switches = 0
    with open(f"/proc/self/task/{tid}/status", encoding="ascii") as handle:
        for line in handle:
            if "ctxt_switches" in line:
                switches += int(line.split()[1])
    return cpu, switches


def _others_ns(training: int) -> int:
    return sum(_task(tid)[0] for tid in os.listdir("/proc/self/task") if int(tid) != training)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patterns", default=DEFAULT_PATTERNS)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--steps", type=int, default=1000, help="steps an epoch")
    parser.add_argument("--quick", action="store_true", help="a smoke run (figures are noise)")
    args = parser.parse_args(argv)
    if args.quick:
        args.patterns, args.rounds, args.steps = "off,off2,100:1000", 2, 100
    if (os.cpu_count() or 1) < 2 or not hasattr(os, "sched_setaffinity"):
        sys.exit("other_core_load.py needs two CPUs and sched_setaffinity")
    patterns = args.patterns.split(",")
    header("training's steps with wake-ups on the other core / with it idle")
    burner = subprocess.Popen(
        [sys.executable, "-c", BURNER], stdin=subprocess.PIPE, text=True, bufsize=1
    )
    try:
        results = _train(patterns, args, burner)
    finally:
        if burner.stdin is not None:
            burner.stdin.write("quit\n")
        burner.wait(10)
    _report(patterns, results)
    return 0


def _train(patterns: list[str], args, burner) -> dict[str, list[tuple[float, ...]]]:
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    import keras
    from _mlp_workload import BATCH, build

    model, x, y = build(args.steps * BATCH)
    training = threading.get_native_id()

    class Epoch(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            if batch == 0:
                self.first, self.task, self.others = (
                    time.perf_counter(),
                    _task(training),
                    _others_ns(training),
                )

        def on_train_batch_end(self, batch, logs=None):
            self.last = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            cpu, switches = _task(training)
            self.result = (
                self.last - self.first,
                (cpu - self.task[0]) / 1e9,
                (_others_ns(training) - self.others) / 1e9,
                (switches - self.task[1]) / args.steps,
            )

    epoch = Epoch()
    model.fit(x, y, batch_size=BATCH, epochs=2, verbose=0, callbacks=[epoch])  # warm-up
    results: dict[str, list[tuple[float, ...]]] = {pattern: [] for pattern in patterns}
    for round_ in range(args.rounds):
        shift = round_ % len(patterns)
        order = patterns[shift:] + patterns[:shift]
        for pattern in order[::-1] if round_ % 2 else order:
            burner.stdin.write(("off" if pattern.startswith("off") else pattern) + "\n")
            time.sleep(0.2)
            model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0, callbacks=[epoch])
            results[pattern].append(epoch.result)
            burner.stdin.write("off\n")
    return results


def _report(patterns: list[str], results: dict[str, list[tuple[float, ...]]]) -> None:
    idle = results[patterns[0]]
    rows = []
    for pattern in patterns[1:]:
        runs = results[pattern]
        name = "aa" if pattern.startswith("off") else pattern.replace(":", "hz_") + "us"
        walls = [run[0] / base[0] for run, base in zip(runs, idle)]
        cpus = [run[1] / base[1] for run, base in zip(runs, idle)]
        tfs = [run[2] / base[2] for run, base in zip(runs, idle)]
        for kind, values in (("steps", walls), ("training_cpu", cpus), ("tf_threads_cpu", tfs)):
            figure = figures.Figure(f"{pattern}: {kind.replace('_', ' ')} / idle", values)
            low, high = figure.interval
            print(f"ratio {name}_{kind}/idle: {figure.median:.3f} [{low:.3f}, {high:.3f}]")
            rows.append(figure)
        switches = median([run[3] for run in runs])
        print(f"  {pattern}: training thread's context switches a step {switches:.2f}")
    step = median([run[0] for run in idle])
    print(f"an idle epoch's steps: {step:.3f} s")
    print(figures.table(rows))


if __name__ == "__main__":
    sys.exit(main())
