"""The thread that settles the loss rules' tapes off the training thread.

At a probe look the training thread hands the finite batch losses taped since the
last hand-off (a few hundred) to :class:`LossWorker`, which feeds them to the loss
watches (:meth:`BatchLosses.settle_ends
<.batch_losses.BatchLosses.settle_ends>`) while TensorFlow's next steps run with
the GIL released: on the cold caches between two steps, the same pass on the
training thread cost it about 240 µs a look (1.4 µs a step of a 1,000-step fit).
Handing off is one ``SimpleQueue.put`` (C, never waits). The jobs run one at a
time, in the order they were handed off, so the watches see the losses in step
order, as before. Plain Python, free of Keras.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from queue import SimpleQueue

#: The worker thread's name (the benchmarks count its CPU under it).
THREAD_NAME = "kmon-losses"


class LossWorker:
    """One daemon thread that runs the jobs it is handed, in order.

    Started by the first :meth:`submit` (again in a forked child, where the parent's
    thread does not run). A job must not raise: see :class:`Done`.
    """

    def __init__(self) -> None:
        self._jobs: SimpleQueue[Callable[[], None]] = SimpleQueue()
        self._thread: threading.Thread | None = None
        self._pid = 0

    def submit(self, job: Callable[[], None]) -> None:
        """Run ``job`` on the worker thread, after the jobs handed before it."""
        if self._pid != os.getpid():
            self._start()
        self._jobs.put(job)

    def _start(self) -> None:
        self._jobs = SimpleQueue()  # a forked child's copy may hold the parent's jobs
        self._thread = threading.Thread(target=self._main, name=THREAD_NAME, daemon=True)
        self._thread.start()
        self._pid = os.getpid()

    def _main(self) -> None:
        jobs = self._jobs
        while True:
            jobs.get()()


class Done:
    """Counts the jobs one tape handed off and waits for them.

    The training thread calls :meth:`handed` before each :meth:`LossWorker.submit`,
    the job calls :meth:`finished` at its end (whatever happened), and the training
    thread calls :meth:`wait` before it touches the watches itself (an epoch's end,
    a NaN). It waits only for jobs still running: a look hands off a few hundred
    losses at most every 128 steps, and a job takes a fraction of a millisecond.
    """

    def __init__(self) -> None:
        self._tokens: SimpleQueue[BaseException | None] = SimpleQueue()
        self._out = 0
        """Jobs handed off and not waited for (the training thread's count)."""

    def handed(self) -> None:
        self._out += 1

    def finished(self, error: BaseException | None = None) -> None:
        """One job ended (on the worker), with the exception it raised, if any."""
        self._tokens.put(error)

    def wait(self) -> None:
        """Return once every job handed off has finished; re-raise the first
        exception one of them raised, as settling on this thread would have."""
        error = None
        while self._out:
            self._out -= 1
            raised = self._tokens.get()
            error = error or raised
        if error is not None:
            raise error


_worker = LossWorker()


def loss_worker(batch_ends_on_training_thread: bool) -> LossWorker | None:
    """The process's loss worker (one for every fit: they run one after another),
    where batch ends run on the training thread (TensorFlow); else None: settle in
    place. Where Keras calls batch ends from its thread pool (torch, JAX), a NaN
    settles from a pool thread, and :class:`Done` counts for one thread only."""
    return _worker if batch_ends_on_training_thread else None
