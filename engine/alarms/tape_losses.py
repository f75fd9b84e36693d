"""The training losses of the monitor's batch tapes, read at the probes' looks.

Keras calls every callback's batch-end hook at every step. Where the monitor's
callback (:class:`~kmon.engine.training.callback.KmonCallback`) tapes its batch ends
on the training thread (TensorFlow), the tape already holds each batch's logs, so
:class:`~.probe_callback.ProbeCallback` need not be called for them: at each of its
looks (at most :data:`~.probe_pacing.MAX_WAIT_STEPS` steps or
:data:`~.probe_pacing.MAX_WAIT_SECONDS` of training apart) it reads the losses
taken since the last one from the tapes, in one pass, and hands them on as its
batch-end hook would have, in step order: finite ones to the loss tape, a NaN or
Inf to ``nan_loss`` (which then comes at that look, with its own step). Where the
loss is Keras's running mean, whose sum stays NaN or infinite once it is, a run of
batch ends whose last loss is finite holds only finite ones: the look reads that
one, and the loss worker reads the others, a few hundred at a time. Plain Python,
free of Keras.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from itertools import islice
from typing import Any

from kmon.engine.alarms.batch_losses import SETTLE_LOSSES, BatchLosses


class TapeLosses:
    """Reads each batch's ``loss`` off a monitor callback's batch ends.

    Args:
        shipped: the lists of ``(step, size, logs, time)`` the monitor ships, in
            order (:meth:`KmonCallback.keep_batch_ends
            <kmon.engine.training.callback.KmonCallback.keep_batch_ends>`); read
            ones are popped.
        current: returns the monitor's list not shipped yet (or None).
        losses: where the losses go, as the probes' batch-end hook gives them.
    """

    def __init__(
        self,
        shipped: deque[list],
        current: Callable[[], list | None],
        losses: BatchLosses,
    ) -> None:
        self._shipped = shipped
        self._current = current
        self._finite = losses.due
        self._not_finite = losses.not_finite
        self._settle = losses.settle
        self._losses = losses
        self.running_means = False
        """The logged loss is Keras's running mean over the epoch (its own
        ``train_step``, :attr:`EpochWatch.per_batch <.epoch_watch.EpochWatch.per_batch>`):
        its sum, once NaN or infinite, stays so until the epoch ends, so a run of
        batch ends whose last loss is finite has only finite ones, and the loss
        worker can read them (:meth:`BatchLosses.hand_off_reading
        <.batch_losses.BatchLosses.hand_off_reading>`): a look then reads one loss
        a run of batch ends, not every one (0.2-0.3 µs each on cold caches)."""
        self._finite_runs: list[tuple[list, int, int]] = []
        """Runs of batch ends ``(list, start, stop)`` whose losses are all finite, not
        read yet: the loss worker reads them once they hold :data:`SETTLE_LOSSES`."""
        self._finite_count = 0
        self._open: list | None = None
        """The list not shipped yet when last read; ``_read`` of it were read."""
        self._read = 0

    def settle(self) -> None:
        """:meth:`take`, then hand every loss on to the watches
        (:meth:`BatchLosses.settle <.batch_losses.BatchLosses.settle>`)."""
        self.take()
        self._finite.extend(_finite_losses(self._take_finite_runs()))
        self._settle()

    def reset(self) -> None:
        """A fit begins: forget the last one's batch ends."""
        self._shipped.clear()
        self._open, self._read = None, 0
        self._take_finite_runs()

    def take(self) -> None:
        """Hand on the losses of every batch end since the last call, in order."""
        runs: list[tuple[list, int, int]] = []
        shipped = self._shipped
        while shipped:
            ends = shipped.popleft()
            start = 0
            if ends is self._open:
                start, self._open = self._read, None
            if start < len(ends):
                runs.append((ends, start, len(ends)))
        current = self._current()
        if current is not self._open:
            self._open, self._read = current, 0
        if current and self._read < len(current):
            runs.append((current, self._read, len(current)))
            self._read = len(current)
        if not runs:
            return
        if self.running_means:
            # Inline, not a function of its own (about 2 µs a call on a look's cold
            # caches): whether every run's last loss is a finite float; with running
            # means, every loss of the run is then finite (a tape never spans an epoch).
            for ends, _start, stop in runs:
                logs = ends[stop - 1][2]
                loss = logs.get("loss") if logs else None
                if not (isinstance(loss, float) and loss - loss == 0.0):
                    break
            else:
                self._finite_runs += runs
                for _ends, start, stop in runs:
                    self._finite_count += stop - start
                if self._finite_count >= SETTLE_LOSSES:
                    self._hand_off_finite_runs()
                return
        self._hand_off_finite_runs()  # the losses before these come first
        for ends, start, stop in runs:
            self._hand_on(ends, start, stop)

    def _take_finite_runs(self) -> list[tuple[list, int, int]]:
        runs, self._finite_runs, self._finite_count = self._finite_runs, [], 0
        return runs

    def _hand_off_finite_runs(self) -> None:
        """Have the loss worker read the runs of finite losses waiting (one job for a
        few hundred losses: a job a look cost more to wake the worker than it saved);
        onto the loss tape in place where it cannot (``nan_loss`` is active)."""
        runs = self._take_finite_runs()
        if runs and not self._losses.hand_off_reading(lambda: _finite_losses(runs)):
            self._finite.extend(_finite_losses(runs))

    def _hand_on(self, ends: list, start: int, stop: int) -> None:
        finite, not_finite = self._finite, self._not_finite
        for step, _size, logs, _time in islice(ends, start, stop):
            loss: Any = logs.get("loss") if logs else None
            if isinstance(loss, float):
                if loss - loss == 0.0:
                    finite.append((step, loss))
                else:
                    not_finite(step, loss)


def _finite_losses(runs: list[tuple[list, int, int]]) -> list[tuple[int, float]]:
    """``(step, loss)`` of each batch end in ``runs`` with a float loss, in order: on
    the loss worker, the runs' losses all finite (:meth:`TapeLosses.take`). The open
    list may grow meanwhile: only its first ``stop`` batch ends are read."""
    return [
        (step, loss)
        for ends, start, stop in runs
        for step, _size, logs, _time in islice(ends, start, stop)
        if isinstance(loss := (logs.get("loss") if logs else None), float)
    ]
