"""kmon's CPU on the training thread between two steps, A/B in one process.

The figure for issue #24's goal (kmon's CPU a step on the training thread, the
probes apart, at most 5 µs). One process trains the 1 ms MLP of
``_mlp_workload.py`` with TensorFlow on one intra-op and one inter-op thread, and
alternates two kinds of ``fit()``, round after round:

- **plain**: ``callbacks=[keras.callbacks.Callback()]``;
- **kmon**: ``callbacks=[kmon.Monitor(...)]``: the in-script run adds kmon's
  callbacks (the monitor's and the probes', as ``kmon train`` does) and writes the
  event log on its writer thread. ``Monitor`` itself has only a fit-start hook,
  like the plain side's bare callback, so Keras calls both the same way.

In both, Keras's whole dispatch of the train batch hooks
(``CallbackList.on_train_batch_begin`` and ``on_train_batch_end``) is timed in the
training thread's CPU time, the probes' calls apart (``_kmon_meter.install_dispatch``).
kmon's figure is kmon's dispatch minus plain's, round by round: everything kmon
adds between two steps, Keras's calls of its hooks included, while the timers' own
cost, the same on both sides, cancels. One process, alternating, so the two sides
share the machine's moods and the process's memory layout. Median over rounds,
with a 95% bootstrap interval; an A/A row (plain minus the plain fit of the round
before) gives the method's noise. Beside it, the same fits' wall time: the in-script
run's (event log, probes; no system samples, no monitor, no output capture) over
plain's, with its own A/A row.

    python benchmarks/callback_cost.py              # 12 rounds of 1,000 steps
    python benchmarks/callback_cost.py --rounds 4   # a quick look
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import tensorflow as tf  # noqa: E402 - threads are set before the first op

tf.config.threading.set_intra_op_parallelism_threads(1)
tf.config.threading.set_inter_op_parallelism_threads(1)

import _kmon_meter  # noqa: E402
import keras  # noqa: E402
from _common import header  # noqa: E402
from _mlp_workload import BATCH, build  # noqa: E402
from _overhead_figures import CALLBACK_GOAL_US, Figure, table  # noqa: E402

import kmon  # noqa: E402


def dispatch_us(before: dict, after: dict, steps: int) -> float:
    """Keras's batch-hook dispatch between two snapshots, probe calls apart, in CPU
    µs a step."""
    used = _kmon_meter.difference(before, after)["timed"]
    calls, ns = used.get("dispatch", (0, 0))
    probe_calls, probe_ns = used.get("dispatch.probes", (0, 0))
    # The probes' timers run inside the dispatch's: their own cost is the dispatch's.
    return (ns - probe_ns - probe_calls * _kmon_meter.overhead_ns()) / steps / 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--steps", type=int, default=1000, help="steps a fit")
    args = parser.parse_args(argv)
    header("kmon's CPU on the training thread between two steps (A/B in one process)")
    _kmon_meter.install_dispatch()
    model, x, y = build(args.steps * BATCH)
    training = threading.get_native_id()
    with tempfile.TemporaryDirectory(prefix="kmon-callback-cost-") as tmp:
        # No system sampler: its thread would run through the plain fits as well.
        monitor = kmon.Monitor(log_path=Path(tmp) / "run.jsonl", system_interval=0)

        def fit(callback) -> tuple[float, float]:
            """The fit's dispatch in CPU µs a step, and its wall seconds."""
            before = _kmon_meter.snapshot(training)
            started = time.perf_counter()
            model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0, callbacks=[callback])
            seconds = time.perf_counter() - started
            return dispatch_us(before, _kmon_meter.snapshot(training), args.steps), seconds

        # Warm-up: the train step's trace, the optimizer, the probes' compiles (the
        # first gradient probe waits for 2.5 s of training).
        started = time.perf_counter()
        while time.perf_counter() - started < 6:
            fit(keras.callbacks.Callback())
            fit(monitor)
        plain, kmon_side, again, wall, wall_again = [], [], [], [], []
        last_plain = None
        for round_index in range(args.rounds):
            order = (0, 1) if round_index % 2 == 0 else (1, 0)
            measured = {}
            for side in order:
                measured[side] = fit(keras.callbacks.Callback() if side == 0 else monitor)
            plain.append(measured[0][0])
            kmon_side.append(measured[1][0])
            wall.append(measured[1][1] / measured[0][1])
            if last_plain is not None:
                again.append(measured[0][0] - last_plain[0])
                wall_again.append(measured[0][1] / last_plain[1])
            last_plain = measured[0]
            print(
                f"round {round_index + 1}/{args.rounds}: dispatch plain {measured[0][0]:.1f} "
                f"µs, kmon {measured[1][0]:.1f} µs a step; fit plain {measured[0][1]:.2f} s, "
                f"kmon {measured[1][1]:.2f} s",
                flush=True,
            )
        monitor.close()
    print(
        table(
            [
                Figure(
                    "kmon's batch hooks with Keras's calls of them, probes apart (kmon - plain)",
                    [k - p for k, p in zip(kmon_side, plain)],
                    CALLBACK_GOAL_US,
                    "µs",
                ),
                Figure("A/A: plain - the round before's plain", again, unit="µs"),
                Figure("Keras's batch-hook dispatch, plain", plain, unit="µs"),
                Figure(
                    "wall: fit with kmon.Monitor (event log, probes) / plain",
                    wall,
                ),
                Figure("wall A/A: plain / the round before's plain", wall_again),
            ]
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
