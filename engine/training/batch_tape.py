"""Batch ends shipped raw from the training thread, recovered by whoever reads them.

On TensorFlow, Keras calls ``on_train_batch_end`` on the training thread, between
two steps (on torch, from its thread pool: :meth:`BatchTapeDecoder.ship_from`). Recovering a batch's own values and building its
:class:`~kmon.engine.events.Batch` there cost that thread about 8 µs a batch (a 1 ms
step pays 0.8%). With batch tapes the callback only appends ``(step, size, logs,
time)`` to a list, and every :data:`TAPE_BATCHES` batches it emits the
list as one :class:`BatchTape`, in order among its other events. The sinks (the
event-log writer's thread, the monitor's drain) call :meth:`BatchTape.events` to get
the batch events, in the tape's place in the stream; the first caller does the
recovery, the others get the same events.

The recovery is a running state (each value is a difference of running means), so
tapes are recovered strictly in the order they were shipped, whichever sink asks
first and whichever tape it asks for: asking for a tape recovers every tape shipped
before it first. A sink that dropped a tape (the monitor's ring, behind) leaves it to
the others, or to the next tape asked for.

A :class:`BatchTape` is never written to the log: the public interface has only the
batch events it stands for.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable

from kmon.engine.events import Event, Notice
from kmon.engine.training.recovery import BatchValueRecovery, Recovered

#: Batch ends a tape holds at most: the callback ships it when full (or when its
#: oldest waited ``TAPE_SECONDS``), and the monitor's channel sizes its ring by it.
TAPE_BATCHES = 32


class BatchTape:
    """Batch ends of one epoch, not yet recovered (see the module docstring).

    Attributes:
        type: ``"batch_tape"``, so sinks tell it from events without isinstance.
        entries: the batch ends, in step order.
        epoch: the epoch they belong to.
    """

    type = "batch_tape"
    __slots__ = ("entries", "epoch", "new_epoch", "_decoder", "_events")

    def __init__(
        self, decoder: BatchTapeDecoder, entries: list, epoch: int, new_epoch: bool
    ) -> None:
        self.entries = entries
        self.epoch = epoch
        self.new_epoch = new_epoch
        """The epoch began since the last tape: the running means restarted."""
        self._decoder = decoder
        self._events: list[Event] | None = None

    def __len__(self) -> int:
        return len(self.entries)

    def events(self) -> list[Event]:
        """The events this tape stands for, in order: its batch events, and a notice
        where a key's recovery broke. Any thread; the same list for every caller."""
        events = self._events
        if events is None:
            events = self._decoder.recover_through(self)
        return events


class BatchTapeDecoder:
    """Ships a fit's tapes and recovers them in order.

    Args:
        recovery: the fit's recovery, its kinds already known. Only this decoder
            touches it from the first tape on.
        to_events: turns one recovered dispatch (and its batch end's time and
            epoch) into the events that stand for it.
    """

    def __init__(
        self,
        recovery: BatchValueRecovery,
        to_events: Callable[[Recovered, float, int], list[Event]],
    ) -> None:
        self._recovery = recovery
        self._to_events = to_events
        self._waiting: deque[BatchTape] = deque()
        self._lock = threading.Lock()
        self._ship_lock = threading.Lock()
        self._new_epoch = False
        self._broken: str | None = None
        """Why recovery failed, once it has: later tapes go out unrecovered."""

    def epoch_begins(self) -> None:
        """The next tape starts an epoch (training thread; no lock, no wait)."""
        self._new_epoch = True

    def ship(self, entries: list, epoch: int) -> BatchTape:
        """Wrap ``entries`` (now the tape's) as the fit's next tape, all of ``epoch``
        (a tape never spans an epoch). Training thread."""
        tape = BatchTape(self, entries, epoch, self._new_epoch)
        self._new_epoch = False
        self._waiting.append(tape)
        return tape

    def ship_from(self, entries: deque, epoch: int, emit: Callable[[BatchTape], None]) -> None:
        """Take every batch end waiting on ``entries`` and ``emit`` them as the fit's
        next tape, from any thread: where Keras calls batch ends from its pool's
        threads (torch), whichever fills the tape ships it. One thread at a time,
        so the tapes reach the sinks in the order they were taken; the recovery
        puts steps whose hooks ran out of order back in order."""
        with self._ship_lock:  # the training thread takes it only at epoch ends
            pop, taken = entries.popleft, []
            try:
                while True:
                    taken.append(pop())
            except IndexError:
                pass
            if taken:
                emit(self.ship(taken, epoch))

    def recover_through(self, tape: BatchTape) -> list[Event]:
        """Recover every tape shipped up to ``tape``, in order; its events."""
        # Sinks call this (the writer's thread, the monitor's): never the training
        # thread, which only ships.
        with self._lock:
            while tape._events is None:
                self._recover(self._waiting.popleft())
        return tape._events

    def _recover(self, tape: BatchTape) -> None:
        if self._broken is None:
            try:
                tape._events = self._recovered(tape)
                return
            except Exception as exc:  # noqa: BLE001 - a sink must outlive a bug here
                self._broken = f"{type(exc).__name__}: {exc}"
                text = f"batch values not recovered from epoch {tape.epoch + 1} on ({self._broken})"
                events: list[Event] = [Notice(level="warning", text=text)]
        else:
            events = []
        # Keras's own running means still go out; values kmon cannot vouch for do not.
        spe = self._recovery.spe
        for step, size, logs, now in tape.entries:
            span = step - (step // spe) * spe + 1
            unrecovered = Recovered(step, span, size, logs or {}, None)
            events.extend(self._to_events(unrecovered, now, tape.epoch))
        tape._events = events

    def _recovered(self, tape: BatchTape) -> list[Event]:
        recovery, to_events = self._recovery, self._to_events
        if tape.new_epoch:
            recovery.reset()
        events: list[Event] = []
        epoch = tape.epoch
        for step, size, logs, now in tape.entries:
            for ready in recovery.add(step, size, logs or {}):
                events.extend(to_events(ready, now, epoch))
        return events
