"""Each batch's training loss, for :class:`~.probe_callback.ProbeCallback`: finite
ones wait on a tape that the callback's looks hand to the loss watches in one pass;
a loss that is not finite raises ``nan_loss`` at once (and may stop the run), and
the first finite one after it clears it. A look hands the tape to the loss worker
(:mod:`.loss_worker`) rather than settle it on the training thread. Plain Python,
free of Keras."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from kmon.engine.alarms.book import AlarmBook
from kmon.engine.alarms.epoch_watch import EpochWatch
from kmon.engine.alarms.kinds import CLEARED, ERROR, NAN_LOSS, RAISED
from kmon.engine.alarms.learning import LearningRule
from kmon.engine.alarms.loss_worker import Done, LossWorker
from kmon.engine.alarms.messages import nan_loss_message

#: Finite losses a look leaves on the tape. Their rules decide at the epoch's end, so a
#: look hands them to the loss worker (:mod:`.loss_worker`) only to bound memory.
SETTLE_LOSSES = 256


class BatchLosses:
    """The tape of finite batch losses and the ``nan_loss`` alarm.

    The batch-end hook appends ``(step, loss)`` to :attr:`due` itself (one append,
    no call); :meth:`settle` empties it in order, from any thread (``popleft`` is
    atomic, and the watches ignore a step that comes after a later one).
    :meth:`hand_off` has ``worker`` settle them instead; :meth:`settle` first waits
    for what was handed off, so the watches still see every loss once, in order.
    Only ``nan_loss`` is raised or cleared between two epoch ends, and never by the
    worker: while it is active, :meth:`hand_off` settles in place (its clear comes
    at the same look as before), and :meth:`not_finite` settles (so waits) first.

    Args:
        book: the run's alarms.
        losses: the fit's loss spikes and overfitting.
        learning: the fit's no_learning evidence.
        where: ``fit``, ``epoch`` and ``step`` of an alarm at a step.
        stop: called after ``nan_loss`` is raised, when the run stops on NaN.
        worker: settles the tapes :meth:`hand_off` hands it; None: in place.
    """

    def __init__(
        self,
        book: AlarmBook,
        losses: EpochWatch,
        learning: LearningRule,
        where: Callable[[int], dict],
        stop: Callable[[], None] | None = None,
        worker: LossWorker | None = None,
    ) -> None:
        self.due: deque[tuple[int, float]] = deque()
        """Finite losses not yet handed to the watches."""
        self._book, self._losses, self._learning = book, losses, learning
        self._where, self._stop = where, stop
        self._worker = worker
        self._done = Done()

    def hand_off(self) -> None:
        """Have the worker settle the losses on the tape (training thread; never
        waits); in place without a worker or while ``nan_loss`` is active."""
        if self._worker is None or self._book.is_active(NAN_LOSS):
            self.settle()
            return
        ends = self._take()
        if not ends:
            return
        self._submit(lambda: self._settle_off(ends))

    def hand_off_reading(self, read: Callable[[], list[tuple[int, float]]]) -> bool:
        """Have the worker call ``read`` for finite losses and settle them, after the
        losses on the tape (training thread; never waits). False, nothing done,
        without a worker or while ``nan_loss`` is active: the caller reads in place."""
        if self._worker is None or self._book.is_active(NAN_LOSS):
            return False
        if self.due:
            self.hand_off()
        self._submit(lambda: self._settle_off(read))
        return True

    def _submit(self, job: Callable[[], None]) -> None:
        self._done.handed()
        try:
            self._worker.submit(job)
        except RuntimeError:  # no thread can start (the interpreter is exiting)
            job()

    def _settle_off(
        self, ends: list[tuple[int, float]] | Callable[[], list[tuple[int, float]]]
    ) -> None:
        """On the worker: feed the watches (no alarm is raised or cleared there)."""
        try:
            if callable(ends):
                ends = ends()
            self._losses.batch_ends(ends)
            self._learning.batches(ends)
        except BaseException as exc:  # noqa: BLE001 - raised again on the training thread
            self._done.finished(exc)
            return
        self._done.finished()

    def settle(self) -> None:
        """Hand the losses on the tape to the watches, in order, after those handed
        off (waiting for them); a ``nan_loss`` alarm clears at the first."""
        self._done.wait()
        ends = self._take()
        if not ends:
            return
        self._losses.batch_ends(ends)
        self._learning.batches(ends)
        if self._book.is_active(NAN_LOSS):
            step, loss = ends[0]
            self._book.clear(
                NAN_LOSS, nan_loss_message(CLEARED, loss), {"loss": loss}, **self._where(step)
            )

    def _take(self) -> list[tuple[int, float]]:
        """As many losses as are on the tape now (a batch end on another thread may
        append; another thread's settle may have taken them)."""
        due = self.due
        if not due:
            return []
        pop = due.popleft
        return [pop() for _ in range(len(due))]

    def not_finite(self, step: int, loss: float) -> None:
        """The loss of ``step`` is NaN or infinite: raise ``nan_loss`` (once)."""
        self.settle()  # the finite losses before it come first
        if self._book.is_active(NAN_LOSS):
            return
        self._book.raise_(
            NAN_LOSS,
            nan_loss_message(RAISED, loss),
            {"loss": loss},
            severity=ERROR,
            **self._where(step),
        )
        if self._stop is not None:
            self._stop()
