"""kmon's time on the training thread between two steps: Keras's calls of kmon's
batch hooks, timed one by one inside real fits.

The figure for issue #24's goal (kmon's CPU a step on the training thread, the
probes apart: at most 5 µs). One process trains the 1 ms MLP of
``_mlp_workload.py`` with TensorFlow on one intra-op and one inter-op thread,
with ``kmon.Monitor`` (the in-script run: kmon's callbacks, as ``kmon train`` adds
them, and the event log's writer thread). Keras's ``CallbackList`` is given a batch
loop that times, with ``perf_counter_ns`` (a vDSO read, tens of ns), each call of a
kmon callback's batch hook: the lookup and call Keras makes, the hook, and what it
calls (the tape's shipping every 32 batches included), less the probe calls
(``ProbeCallback._run``, timed apart: they have a budget of their own).

Why not the other ways this was measured:

- timers inside each hook (``_kmon_meter.install``, ``thread_time_ns``: a system
  call) miss Keras's calls of the hooks and, on the cold caches between two
  steps, cost more than their calibration takes off;
- the whole dispatch's CPU time under kmon minus a plain process's (or a plain
  fit's) also holds what kmon's other threads do to TensorFlow's step (the
  dispatch first waits for the step's logs): 7-26 µs in runs where kmon's own
  calls were 4-8.

A hook is a few µs with no blocking call, so its wall time is its CPU time but for
the rare preemption. Each fit's figure is the mean over all its steps: the costly
ones are kmon's looks (the probes' pacing, the loss tape read and settled, about 30
a fit at 20-700 µs each), not preemptions, so leaving out the top 1% (as this
script did until 2026-12-04) took 3-4 µs of kmon's real cost off; that trimmed
mean is shown beside it. The figure is the median over fits, with a 95% bootstrap
interval. Beside it, kmon's
other hooks (a fit's start and end, an epoch's begin and end: the loss rules'
settling, the tape's last ship, the epoch events), timed the same way, spread over
the fit's steps: the fit start (its data checks and probe batch) apart, since it
comes once a ``fit()`` however long.

    python benchmarks/callback_cost.py              # 12 fits of 1,000 steps
    python benchmarks/callback_cost.py --fits 4     # a quick look
    python benchmarks/callback_cost.py --quick      # a smoke run (the figure is noise)
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import tensorflow as tf  # noqa: E402 - threads are set before the first op

tf.config.threading.set_intra_op_parallelism_threads(1)
tf.config.threading.set_inter_op_parallelism_threads(1)

from _common import header, median, ratio_line  # noqa: E402
from _mlp_workload import BATCH, build  # noqa: E402
from _overhead_figures import CALLBACK_GOAL_US, Figure, table  # noqa: E402
from keras.src.callbacks.callback_list import CallbackList  # noqa: E402
from keras.src.utils import python_utils  # noqa: E402

import kmon  # noqa: E402
from kmon.engine.alarms.probe_callback import ProbeCallback  # noqa: E402
from kmon.engine.run.in_script import MonitorCallback  # noqa: E402
from kmon.engine.run.probed_monitor import ProbedMonitor  # noqa: E402
from kmon.engine.training.callback import KmonCallback  # noqa: E402

#: Every kmon callback Keras may call, the script's ``kmon.Monitor`` included (in
#: the list where kmon leaves it there, its calls are kmon's cost too).
KMON_CALLBACKS = (KmonCallback, ProbeCallback, MonitorCallback)
clock = time.perf_counter_ns


#: The hooks Keras calls once a fit or an epoch (a fit start's data checks, an
#: epoch's loss rules), timed apart and spread over the fit's steps.
FIT_HOOKS = ("on_train_begin", "on_epoch_begin", "on_epoch_end", "on_test_begin",
             "on_test_end", "on_train_end")


class HookTimes:
    """ns of Keras's calls of kmon's batch hooks, a step each, probe calls apart;
    and of its other hooks, by hook."""

    def __init__(self) -> None:
        self.begin: list[int] = []
        self.end: list[int] = []
        self.probes = 0
        self.other: dict[str, int] = dict.fromkeys(FIT_HOOKS, 0)
        self._depth = 0

    def install(self) -> None:
        CallbackList.on_train_batch_begin = self._loop("on_train_batch_begin", self.begin)
        CallbackList._on_train_batch_end = self._loop("on_train_batch_end", self.end)
        run = ProbeCallback._run

        def timed_run(callback, *args):
            start = clock()
            try:
                return run(callback, *args)
            finally:
                self.probes += clock() - start

        ProbeCallback._run = timed_run
        for kind in {type(kmon.Monitor), *KMON_CALLBACKS, ProbedMonitor}:
            for name in FIT_HOOKS:
                if name in vars(kind):
                    setattr(kind, name, self._timed_hook(name, vars(kind)[name]))

    def _timed_hook(self, name: str, hook):
        """``hook`` timed into :attr:`other` (only the outermost of nested calls: a
        subclass's hook calls its base's), probe calls apart."""
        times = self

        def timed(callback, *args, **kwargs):
            times._depth += 1
            probes, start = times.probes, clock()
            try:
                return hook(callback, *args, **kwargs)
            finally:
                times._depth -= 1
                if times._depth == 0:
                    times.other[name] += clock() - start - (times.probes - probes)

        return timed

    def _loop(self, hook: str, store: list[int]):
        """Keras 3.15's batch loop (``pythonify_logs``, then each callback's hook),
        timing kmon's callbacks."""
        times = self

        def loop(callbacks, batch, logs=None):
            logs = python_utils.pythonify_logs(logs)
            spent = 0
            for callback in callbacks.callbacks:
                if isinstance(callback, KMON_CALLBACKS):
                    probes = times.probes
                    start = clock()
                    getattr(callback, hook)(batch, logs=logs)
                    spent += clock() - start - (times.probes - probes)
                else:
                    getattr(callback, hook)(batch, logs=logs)
            store.append(spent)

        return loop

    def take(self) -> tuple[float, float, float, float, float]:
        """Mean µs a step at batch begins and batch ends since the last take; the
        mean of begin + end without the costliest 1% of steps; and the fit start's
        and the other fit and epoch hooks' µs, spread over the steps."""
        steps = len(self.begin)
        begin, end = (sum(values) / steps / 1000 for values in (self.begin, self.end))
        both = sorted(b + e for b, e in zip(self.begin, self.end))
        kept = both[: max(1, int(steps * 0.99))]
        trimmed = sum(kept) / len(kept) / 1000
        start = self.other["on_train_begin"] / 1000 / steps
        rest = sum(self.other.values()) / 1000 / steps - start
        self.begin.clear()
        self.end.clear()
        self.other = dict.fromkeys(FIT_HOOKS, 0)
        return begin, end, trimmed, start, rest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fits", type=int, default=12)
    parser.add_argument("--steps", type=int, default=1000, help="steps a fit")
    parser.add_argument("--quick", action="store_true", help="a smoke run (noise)")
    args = parser.parse_args(argv)
    warm_seconds = 6.0
    if args.quick:
        args.fits, args.steps, warm_seconds = 2, 200, 1.0
    header("kmon's batch hooks on the training thread, as Keras calls them")
    times = HookTimes()
    times.install()
    model, x, y = build(args.steps * BATCH)
    with tempfile.TemporaryDirectory(prefix="kmon-callback-cost-") as tmp:
        monitor = kmon.Monitor(log_path=Path(tmp) / "run.jsonl", system_interval=0)

        def fit() -> tuple[float, float, float, float, float]:
            model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0, callbacks=[monitor])
            return times.take()

        # Warm-up: the train step's trace, the optimizer, the probes' compiles (the
        # first gradient probe waits for 2.5 s of training).
        started = time.perf_counter()
        while time.perf_counter() - started < warm_seconds:
            fit()
        begins, ends, trims, starts, rests = [], [], [], [], []
        for index in range(args.fits):
            begin, end, trimmed, start, rest = fit()
            begins.append(begin)
            ends.append(end)
            trims.append(trimmed)
            starts.append(start)
            rests.append(rest)
            print(
                f"fit {index + 1}/{args.fits}: begin {begin:.2f} + end {end:.2f} µs a step "
                f"({trimmed:.2f} without the costliest 1%); fit start {start:.2f}, "
                f"epoch and fit ends {rest:.2f} µs a step"
            )
        monitor.close()
    totals = [b + e for b, e in zip(begins, ends)]
    amortized = [t + r for t, r in zip(totals, rests)]
    print(
        ratio_line(
            "training_thread_hooks/goal",
            median(totals) / CALLBACK_GOAL_US,
            1.0,
            f"median {median(totals):.2f} µs a step over {args.fits} fits of {args.steps} steps",
        )
    )
    print(
        table(
            [
                Figure(
                    "training thread: kmon's batch hooks as Keras calls them, probes apart",
                    totals,
                    CALLBACK_GOAL_US,
                    "µs",
                ),
                Figure(
                    "of which batch begins (the looks: learning rate, probes' pacing, losses)",
                    begins,
                    unit="µs",
                ),
                Figure("of which batch ends (the tape, the loss)", ends, unit="µs"),
                Figure(
                    "the same without each fit's costliest 1% of steps (the heaviest looks)",
                    trims,
                    unit="µs",
                ),
                Figure(
                    "every hook but the fit start, the epoch's and the fit's ends spread "
                    f"over its {args.steps:,} steps (one epoch)",
                    amortized,
                    unit="µs",
                ),
                Figure(
                    "the fit start (data checks, probe batch, fit_start), spread the same",
                    starts,
                    unit="µs",
                ),
            ]
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
