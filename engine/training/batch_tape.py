"""Batch ends shipped raw from the training thread, recovered by whoever reads them.

On TensorFlow, Keras calls ``on_train_batch_end`` on the training thread, between
two steps (on torch, from its thread pool: :meth:`BatchTapeDecoder.ship_from`). Recovering a batch's own values and building its
:class:`~kmon.engine.events.Batch` there cost that thread about 8 µs a batch (a 1 ms
step pays 0.8%). With batch tapes the callback only appends ``(step, size, logs,
time)`` to a list, and every :data:`TAPE_BATCHES` batches it emits the
list as one :class:`BatchTape`, in order among its other events. The sinks (the
event-log writer's thread, the monitor's drain) call :meth:`BatchTape.items` to get
what the tape stands for, in its place in the stream; the first caller does the
recovery, the others get the same items. A tape the training thread shipped (in
order: TensorFlow's) is recovered by columns into
:class:`~kmon.engine.training.batch_block.BatchBlock` s, with no event a batch; one
taken from Keras's pool threads (torch) into batch events, as before.

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
from kmon.engine.training.batch_block import BatchBlock, BlockBuilder
from kmon.engine.training.recovery import BatchValueRecovery, Recovered

#: Batch ends a tape holds at most: the callback ships it when full (or when its
#: oldest waited ``TAPE_SECONDS``), and the monitor's channel sizes its ring by it.
#: Each tape costs every sink a fixed part (shipping, a channel slot, the
#: recovery's and the encoding's set-up, a block to fold): on 1 ms steps, tapes of
#: 256 rather than 32 took 1.5-2.8 µs a step off kmon's CPU (4 fits a side, headless).
#: A tape fills before its time only on steps under ``TAPE_SECONDS / TAPE_BATCHES``
#: (about 1 ms); tapes of 32 did on steps under 8 ms, and only those now come less often.
TAPE_BATCHES = 256


class BatchTape:
    """Batch ends of one epoch, not yet recovered (see the module docstring).

    Attributes:
        type: ``"batch_tape"``, so sinks tell it from events without isinstance.
        entries: the batch ends, in step order.
        epoch: the epoch they belong to.
    """

    type = "batch_tape"
    __slots__ = ("entries", "epoch", "new_epoch", "columns", "_decoder", "_items")

    def __init__(
        self,
        decoder: BatchTapeDecoder,
        entries: list,
        epoch: int,
        new_epoch: bool,
        columns: bool = True,
    ) -> None:
        self.entries = entries
        self.epoch = epoch
        self.new_epoch = new_epoch
        """The epoch began since the last tape: the running means restarted."""
        self.columns = columns
        """Recovered into blocks (batch ends shipped in step order, from one thread)."""
        self._decoder = decoder
        self._items: list | None = None

    def __len__(self) -> int:
        return len(self.entries)

    def items(self) -> list:
        """What this tape stands for, in order: its batches as
        :class:`~kmon.engine.training.batch_block.BatchBlock` s (or batch events),
        and a notice where a key's recovery broke. Any thread; the same list for
        every caller."""
        items = self._items
        if items is None:
            items = self._decoder.recover_through(self)
        return items

    def events(self) -> list[Event]:
        """The events this tape stands for, a block's batches as their events."""
        items = self.items()
        if not self.columns:
            return items
        events: list[Event] = []
        for item in items:
            if item.type == "batch_block":
                events += item.events()
            else:
                events.append(item)
        return events


class BatchTapeDecoder:
    """Ships a fit's tapes and recovers them in order.

    Args:
        recovery: the fit's recovery, its kinds already known. Only this decoder
            touches it from the first tape on.
        to_events: turns one recovered dispatch (and its batch end's time and
            epoch) into the events that stand for it.
        fit: the fit's number; None: read off an event ``to_events`` makes.
    """

    def __init__(
        self,
        recovery: BatchValueRecovery,
        to_events: Callable[[Recovered, float, int], list[Event]],
        fit: int | None = None,
    ) -> None:
        self._recovery = recovery
        self._to_events = to_events
        self._fit = fit
        self._waiting: deque[BatchTape] = deque()
        self._lock = threading.Lock()
        self._ship_lock = threading.Lock()
        self._new_epoch = False
        self._broken: str | None = None
        """Why recovery failed, once it has: later tapes go out unrecovered."""

    def epoch_begins(self) -> None:
        """The next tape starts an epoch (training thread; no lock, no wait)."""
        self._new_epoch = True

    def ship(self, entries: list, epoch: int, columns: bool = True) -> BatchTape:
        """Wrap ``entries`` (now the tape's) as the fit's next tape, all of ``epoch``
        (a tape never spans an epoch). Training thread."""
        tape = BatchTape(self, entries, epoch, self._new_epoch, columns)
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
                emit(self.ship(taken, epoch, columns=False))

    def recover_through(self, tape: BatchTape) -> list:
        """Recover every tape shipped up to ``tape``, in order; its items."""
        # Sinks call this (the writer's thread, the monitor's): never the training
        # thread, which only ships.
        with self._lock:
            while tape._items is None:
                self._recover(self._waiting.popleft())
        return tape._items

    @property
    def fit(self) -> int | None:
        """The fit's number, as the callback's events carry it (read off the batch
        event ``to_events`` makes of an empty dispatch, where it was not given);
        None if that fails: the tapes then go out as batch events."""
        if self._fit is None:
            try:
                self._fit = self._to_events(Recovered(0, 1, None, {}, None), 0.0, 0)[-1].fit
            except Exception:  # noqa: BLE001 - a sink must outlive a bug here
                return None
        return self._fit

    def _recover(self, tape: BatchTape) -> None:
        if self._broken is None:
            try:
                tape._items = self._recovered(tape)
                return
            except Exception as exc:  # noqa: BLE001 - a sink must outlive a bug here
                self._broken = f"{type(exc).__name__}: {exc}"
                text = f"batch values not recovered from epoch {tape.epoch + 1} on ({self._broken})"
                items: list = [Notice(level="warning", text=text)]
        else:
            items = []
        # Keras's own running means still go out; values kmon cannot vouch for do not.
        spe = self._recovery.spe
        if tape.columns and self.fit is not None:
            blocks = BlockBuilder(self.fit, tape.epoch, items)
            for step, size, logs, now in tape.entries:
                blocks.add(step, size, now, step - (step // spe) * spe + 1, logs or {}, None)
            blocks.close()
        else:
            for step, size, logs, now in tape.entries:
                span = step - (step // spe) * spe + 1
                unrecovered = Recovered(step, span, size, logs or {}, None)
                items.extend(self._to_events(unrecovered, now, tape.epoch))
        tape._items = items

    def _recovered(self, tape: BatchTape) -> list:
        recovery, to_events = self._recovery, self._to_events
        if tape.new_epoch:
            recovery.reset()
        epoch, entries = tape.epoch, tape.entries
        if not tape.columns or self.fit is None:
            tape.columns = False
            events: list[Event] = []
            for step, size, logs, now in entries:
                for ready in recovery.add(step, size, logs or {}):
                    events.extend(to_events(ready, now, epoch))
            return events
        keys = tuple(entries[0][2] or ())
        found = recovery.add_tape(entries, keys)
        if found is not None:
            return self._blocks(tape, keys, found.columns, found.broken)
        # What the columns do not take (a dispatch without a size, other keys): one
        # dispatch at a time, still into blocks.
        items: list = []
        blocks = BlockBuilder(self.fit, epoch, items)
        for step, size, logs, now in entries:
            for ready in recovery.add(step, size, logs or {}):
                if ready.kinds is None and not ready.broken:
                    blocks.add(ready.step, ready.size, now, ready.span, ready.logs, ready.values)
                else:
                    blocks.close()
                    items += to_events(ready, now, epoch)
        blocks.close()
        return items

    def _blocks(self, tape: BatchTape, keys: tuple, columns: dict, broken: list) -> list:
        """The tape's batches as one block, or, where keys broke, blocks around each
        breaking batch's own events (its notices, then it)."""
        entries, spe, fit, epoch = tape.entries, self._recovery.spe, self.fit, tape.epoch
        steps = [entry[0] for entry in entries]
        spans = [step - (step // spe) * spe + 1 for step in steps]

        def block(start: int, end: int) -> BatchBlock:
            return BatchBlock(
                fit, epoch, keys, steps[start:end],
                [entry[1] for entry in entries[start:end]],
                [entry[3] for entry in entries[start:end]], spans[start:end],
                [entry[2] for entry in entries[start:end]],
                {key: column[start:end] for key, column in columns.items()},
            )  # fmt: skip

        if not broken:
            return [block(0, len(entries))]
        items: list = []
        start = 0
        for index in sorted({index for index, _ in broken}):
            if index > start:
                items.append(block(start, index))
            step, size, logs, now = entries[index]
            values = {key: column[index] for key, column in columns.items()}
            keys_broken = [key for at, key in broken if at == index]
            ready = Recovered(step, spans[index], size, logs, values, broken=keys_broken)
            items += self._to_events(ready, now, epoch)
            start = index + 1
        if start < len(entries):
            items.append(block(start, len(entries)))
        return items
