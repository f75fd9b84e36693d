"""The training losses of the monitor's batch tapes, read at the probes' looks.

Keras calls every callback's batch-end hook at every step. Where the monitor's
callback (:class:`~kmon.engine.training.callback.KmonCallback`) tapes its batch ends
on the training thread (TensorFlow), the tape already holds each batch's logs, so
:class:`~.probe_callback.ProbeCallback` need not be called for them: at each of its
looks (at most :data:`~.probe_pacing.MAX_WAIT_STEPS` steps or
:data:`~.probe_pacing.MAX_WAIT_SECONDS` of training apart) it reads the losses
taken since the last one from the tapes, in one pass, and hands them on as its
batch-end hook would have, in step order: finite ones to the loss tape, a NaN or
Inf to ``nan_loss`` (which then comes at that look, with its own step). Plain
Python, free of Keras.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from itertools import islice
from typing import Any

from kmon.engine.alarms.batch_losses import BatchLosses


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
        self._open: list | None = None
        """The list not shipped yet when last read; ``_read`` of it were read."""
        self._read = 0

    def settle(self) -> None:
        """:meth:`take`, then hand every loss on to the watches
        (:meth:`BatchLosses.settle <.batch_losses.BatchLosses.settle>`)."""
        self.take()
        self._settle()

    def reset(self) -> None:
        """A fit begins: forget the last one's batch ends."""
        self._shipped.clear()
        self._open, self._read = None, 0

    def take(self) -> None:
        """Hand on the losses of every batch end since the last call, in order."""
        shipped = self._shipped
        while shipped:
            ends = shipped.popleft()
            start = 0
            if ends is self._open:
                start, self._open = self._read, None
            self._hand_on(ends, start)
        current = self._current()
        if current is not self._open:
            self._open, self._read = current, 0
        if current:
            self._hand_on(current, self._read)
            self._read = len(current)

    def _hand_on(self, ends: list, start: int) -> None:
        finite, not_finite = self._finite, self._not_finite
        for step, _size, logs, _time in islice(ends, start, None) if start else ends:
            loss: Any = logs.get("loss") if logs else None
            if isinstance(loss, float):
                if loss - loss == 0.0:
                    finite.append((step, loss))
                else:
                    not_finite(step, loss)
