"""What the constant-predictor baselines cost a fit's start: the CPU time of
``head_baseline`` on every training target (what kmon reads where ``fit()`` trains
on NumPy arrays) against the data checks' 4,096 rows (what it read before), in
alternating rounds, on the training thread's clock (``time.thread_time``).

The goal: reading every target adds at most 50 ms for one head at a fit's start,
whatever the data's size (targets past 2^18 values are thinned, a sparse head's by
labels x classes). A sparse head of 1,000 classes costs about that much on the
4,096 rows alone.

    python benchmarks/baseline_cost.py           # 7 rounds
    python benchmarks/baseline_cost.py --quick   # 2 rounds
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from _common import header, median, ratio_line

from kmon.engine.alarms.baselines import head_baseline
from kmon.engine.training.loss_kinds import loss_identity

#: The goal: CPU seconds that every target adds to one head's baseline.
GOAL_SECONDS = 0.050
#: The data checks' rows (``ProbeConfig.data_rows``), what was read before.
DATA_ROWS = 4096


def cases() -> dict[str, tuple[str, np.ndarray]]:
    rng = np.random.default_rng(0)
    return {
        "binary, 60k labels": ("binary_crossentropy", rng.integers(0, 2, (60_000, 1)).astype("float32")),
        "sparse, 10 classes, 60k": ("sparse_categorical_crossentropy", rng.integers(0, 10, 60_000)),
        "sparse, 1,000 classes, 60k": ("sparse_categorical_crossentropy", rng.integers(0, 1000, 60_000)),
        "mse, 1M targets": ("mse", rng.normal(size=(1_000_000, 1)).astype("float32")),
        "huber, 1M targets": ("huber", rng.normal(size=(1_000_000, 1)).astype("float32")),
    }


def cpu_seconds(identity: dict, y: np.ndarray) -> float:
    start = time.thread_time()
    head_baseline([identity], y)
    return time.thread_time() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="2 rounds")
    args = parser.parse_args()
    rounds = 2 if args.quick else args.rounds
    header("constant-predictor baselines: CPU at a fit's start, every target / 4,096 rows")
    worst = 0.0
    for name, (loss, y) in cases().items():
        identity = loss_identity(loss)
        rows = y[np.linspace(0, len(y) - 1, DATA_ROWS).round().astype(np.int64)]
        sampled, whole = [], []
        for _ in range(rounds):  # alternating: the machine's load shifts both alike
            sampled.append(cpu_seconds(identity, rows))
            whole.append(cpu_seconds(identity, y))
        worst = max(worst, median(whole) - median(sampled))
        print(
            f"{name:27s} every target {median(whole) * 1000:6.1f} ms"
            f"  4,096 rows {median(sampled) * 1000:6.1f} ms  (medians of {rounds})"
        )
    print(ratio_line("baseline_added_cpu/goal", worst / GOAL_SECONDS, 1.0, "the costliest case"))


if __name__ == "__main__":
    main()
