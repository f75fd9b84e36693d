"""Batch tapes where Keras calls batch ends from its thread pool (torch): any pool
thread appends to the tape and ships it (:meth:`BatchTapeDecoder.ship_from`), and
the sinks still recover every batch once, in step order, with the values a
recovery in step order on one thread gives.
"""

from __future__ import annotations

import random
import threading
from collections import deque

from kmon.engine.events import MEAN
from kmon.engine.training.batch_tape import TAPE_BATCHES, BatchTapeDecoder
from kmon.engine.training.metric_kinds import KeyKind
from kmon.engine.training.recovery import BatchValueRecovery

STEPS, SIZE = 2000, 8


def _recovery() -> BatchValueRecovery:
    recovery = BatchValueRecovery(lambda: {"loss": KeyKind(MEAN)})
    recovery.ready()  # the kinds are known: the fit's first dispatch is out
    return recovery


def _running_means() -> list[float]:
    rng = random.Random(0)
    total, means = 0.0, []
    for step in range(STEPS):
        total += rng.uniform(0.5, 2.0) * SIZE
        means.append(total / ((step + 1) * SIZE))
    return means


def test_tapes_shipped_by_several_pool_threads_recover_every_step_once_in_order():
    means = _running_means()
    truth = BatchValueRecovery(lambda: {"loss": KeyKind(MEAN)})
    expected = [r.values for step in range(STEPS) for r in truth.add(step, SIZE, {"loss": means[step]})]

    decoder = BatchTapeDecoder(_recovery(), lambda ready, now, epoch: [ready])
    entries: deque = deque()
    tapes: list = []
    next_step = iter(range(STEPS))
    lock = threading.Lock()  # stands for Keras's executor handing out the steps

    def pool_thread() -> None:
        while True:
            with lock:
                step = next(next_step, None)
            if step is None:
                return
            entries.append((step, SIZE, {"loss": means[step]}, 0.0))
            if len(entries) >= TAPE_BATCHES:
                decoder.ship_from(entries, 0, tapes.append)

    threads = [threading.Thread(target=pool_thread) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    decoder.ship_from(entries, 0, tapes.append)  # the epoch's end, on the training thread
    assert not entries
    assert sum(len(tape) for tape in tapes) == STEPS
    recovered = [ready for tape in tapes for ready in tape.events()]
    assert [r.step for r in recovered] == list(range(STEPS))
    assert [r.values for r in recovered] == expected


def test_an_empty_tape_is_not_shipped():
    tapes: list = []
    BatchTapeDecoder(_recovery(), lambda ready, now, epoch: [ready]).ship_from(
        deque(), 0, tapes.append
    )
    assert tapes == []
