"""Each batch's training loss, for :class:`~.probe_callback.ProbeCallback`: finite
ones wait on a tape that the callback's looks hand to the loss watches in one pass;
a loss that is not finite raises ``nan_loss`` at once (and may stop the run), and
the first finite one after it clears it. Plain Python, free of Keras."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from kmon.engine.alarms.book import AlarmBook
from kmon.engine.alarms.epoch_watch import EpochWatch
from kmon.engine.alarms.kinds import CLEARED, ERROR, NAN_LOSS, RAISED
from kmon.engine.alarms.learning import LearningRule
from kmon.engine.alarms.messages import nan_loss_message


class BatchLosses:
    """The tape of finite batch losses and the ``nan_loss`` alarm.

    The batch-end hook appends ``(step, loss)`` to :attr:`due` itself (one append,
    no call); :meth:`settle` empties it in order, from any thread (``popleft`` is
    atomic, and the watches ignore a step that comes after a later one).

    Args:
        book: the run's alarms.
        losses: the fit's loss spikes and overfitting.
        learning: the fit's no_learning evidence.
        where: ``fit``, ``epoch`` and ``step`` of an alarm at a step.
        stop: called after ``nan_loss`` is raised, when the run stops on NaN.
    """

    def __init__(
        self,
        book: AlarmBook,
        losses: EpochWatch,
        learning: LearningRule,
        where: Callable[[int], dict],
        stop: Callable[[], None] | None = None,
    ) -> None:
        self.due: deque[tuple[int, float]] = deque()
        """Finite losses not yet handed to the watches."""
        self._book, self._losses, self._learning = book, losses, learning
        self._where, self._stop = where, stop

    def settle(self) -> None:
        """Hand the losses on the tape to the watches, in order; a ``nan_loss``
        alarm clears at the first."""
        due = self.due
        if not due:
            return
        # As many as are there now (a batch end on another thread may append).
        pop = due.popleft
        ends = [pop() for _ in range(len(due))]
        if not ends:
            return  # another thread's settle took them
        self._losses.batch_ends(ends)
        self._learning.batches(ends)
        if self._book.is_active(NAN_LOSS):
            step, loss = ends[0]
            self._book.clear(
                NAN_LOSS, nan_loss_message(CLEARED, loss), {"loss": loss}, **self._where(step)
            )

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
