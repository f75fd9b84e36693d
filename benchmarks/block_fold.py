"""A live drain's joined block folded with numpy against the lists' way (issue #24).

A TensorFlow fit's drains reach ``RunState.apply_all`` as one joined
:class:`~kmon.engine.training.batch_block.BatchBlock` a drain; a block of at least
``block_fold.NUMPY_AT`` batches fills its loss series with numpy. This folds blocks
of a few sizes into a state that has already taken 20,000 batches (its buckets
wide, its smoothed loss past the bias correction), both ways in alternating
rounds, and prints CPU time (``time.thread_time``) a batch, median over rounds:
where numpy's per-call cost is paid back sets ``NUMPY_AT``. ``--cold`` sums a
64-MB array before each fold, as a live UI's frames between its drains leave the
caches (its figures are the ones that set ``NUMPY_AT``).

    python benchmarks/block_fold.py [--quick]
"""

from __future__ import annotations

import argparse
import random
import time

from _common import header, median, ratio_line

from kmon.engine.training.batch_block import BatchBlock
from kmon.engine.view import block_fold
from kmon.engine.view.state import RunState

KEYS = ("loss", "accuracy")
WARM = 20_000


def _block(first: int, count: int, rng: random.Random) -> BatchBlock:
    steps = list(range(first, first + count))
    losses = [1.0 / (1 + 1e-3 * step) + 0.01 * rng.random() for step in steps]
    logs = [{"loss": loss, "accuracy": 0.5} for loss in losses]
    values = {"loss": [loss * 0.9 for loss in losses], "accuracy": [0.5] * count}
    times = [1.7e9 + 1e-3 * step for step in steps]
    return BatchBlock(1, 0, KEYS, steps, [32] * count, times, [1] * count, logs, values)


def _fold_cost(count: int, numpy_at: int, rng: random.Random, junk=None) -> float:
    """CPU seconds a batch to fold one block of ``count`` into a warm state."""
    state = RunState()
    block_fold.NUMPY_AT = 1
    for first in range(0, WARM, 5_000):
        block_fold.fold_batch_block(state, _block(first, 5_000, rng))
    block = _block(WARM, count, rng)
    block_fold.NUMPY_AT = numpy_at
    if junk is not None:
        junk.sum()
    start = time.thread_time()
    block_fold.fold_batch_block(state, block)
    return (time.thread_time() - start) / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--cold", action="store_true", help="evict the caches before each fold")
    args = parser.parse_args()
    rounds = 3 if args.quick else args.rounds
    header("A drain's block folded with numpy / the lists' way")
    rng = random.Random(1)
    junk = None
    if args.cold:
        import numpy  # noqa: PLC0415 - only to evict the caches

        junk = numpy.ones(8_000_000)
    at = block_fold.NUMPY_AT
    for count in (100, 200, 300, 500, 1000, 2000):
        lists, arrays = [], []
        for _ in range(rounds):
            lists.append(_fold_cost(count, 10**9, rng, junk))
            arrays.append(_fold_cost(count, 1, rng, junk))
        both = median(arrays) / median(lists)
        print(f"  {count:5d} batches: lists {median(lists) * 1e6:5.2f} µs a batch, "
              f"numpy {median(arrays) * 1e6:5.2f}")  # fmt: skip
        print(ratio_line(f"numpy/lists_{count}", both, None))
    block_fold.NUMPY_AT = at


if __name__ == "__main__":
    main()
