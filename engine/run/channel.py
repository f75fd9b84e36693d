"""Bounded, lock-free event channel from the training thread to a monitor.

The training thread calls :meth:`MonitorChannel.put` once per event and must never
wait. ``collections.deque`` appends are atomic under the GIL, so no lock is taken.
Batch events live in a ring buffer: when a monitor falls behind, the oldest batch
events are overwritten (coalesced into the newer ones). Control events (fit, epoch,
log, alarm, end...) sit in an unbounded deque and are never dropped: there are few
of them.

A fit on TensorFlow ships its batch ends as batch tapes (see
:mod:`kmon.engine.training.batch_tape`): one item for up to ``TAPE_BATCHES``
batches, kept in a ring of their own, which :meth:`MonitorChannel.drain` hands on
as what it stands for, in its place: blocks of batches as columns
(:class:`~kmon.engine.training.batch_block.BatchBlock`, type "batch_block", for a
fit on TensorFlow) or batch events (on torch), and a notice where recovery broke.
"""

from __future__ import annotations

import bisect
import itertools
from collections import deque

from kmon.engine.events import Event
from kmon.engine.run.bell import Bell
from kmon.engine.training.batch_tape import TAPE_BATCHES

DEFAULT_BATCH_CAPACITY = 50_000
#: Control events no front end prints a line for: not news (see
#: :attr:`MonitorChannel.last_news`). A system sample a second rang the headless
#: loop awake to print nothing.
NOT_NEWS = frozenset({"log", "system", "epoch_start"})


class MonitorChannel:
    """One consumer's view of the event stream.

    Args:
        batch_capacity: batch events kept while the consumer is not draining.
        bell: rung by every put of news (see :attr:`last_news`), for a consumer
            that sleeps until news comes.
    """

    def __init__(
        self, batch_capacity: int = DEFAULT_BATCH_CAPACITY, bell: Bell | None = None
    ) -> None:
        self._bell = bell
        self._seq = itertools.count()
        self._batches: deque[tuple[int, Event]] = deque(maxlen=batch_capacity)
        self._control: deque[tuple[int, Event]] = deque()
        self._tapes: deque[tuple[int, object]] = deque(
            maxlen=max(1, batch_capacity // TAPE_BATCHES)
        )
        self._tape_sizes: dict[int, int] = {}
        """Batch ends in each tape put, by its number, until a drain accounts for it."""
        self._counted_tapes: dict[int, int] = {}
        """Tapes the last drain counted as overwritten, with how many batches."""
        self._held: list[tuple[int, Event]] = []
        self._last_delivered = -1
        self.dropped = 0
        """Batch events coalesced away since the channel was made."""
        self.last_news = -1
        """The number of the last event put that a front end prints a line for
        (neither a batch, nor the script's output, nor one of :data:`NOT_NEWS`);
        -1 before any."""
        self.drained_through = 0
        """Every event numbered below this was handed out by a drain."""

    def put(self, event: Event) -> None:
        """Add an event. O(1), never blocks, never raises on a full buffer."""
        item = (next(self._seq), event)
        kind = event.type
        if kind == "batch":
            self._batches.append(item)
        elif kind == "batch_tape":
            self._tape_sizes[item[0]] = len(event)
            self._tapes.append(item)
        else:
            self._control.append(item)
            if kind not in NOT_NEWS:
                self.last_news = item[0]
                if self._bell is not None:
                    self._bell.ring()

    @property
    def news_waiting(self) -> bool:
        """Whether the next drain may bring more than batch events (a control event,
        or an item the last drain held back), in O(1): a monitor that drains only at
        its frames asks this between them, so that news is drawn at once."""
        return bool(self._control or self._held)

    def drain(self) -> list[Event]:
        """Take every event that arrived so far, in the order they were put (a
        tape's batches as blocks of columns where it was recovered into them)."""
        # A watermark taken before popping tells which events were certainly put
        # before this drain began: later ones wait for the next drain, so a batch
        # never overtakes the epoch_end that followed it.
        watermark = next(self._seq)
        items = self._held
        tapes = bool(items)  # a held item may be a tape
        for source in (self._batches, self._tapes, self._control):
            # Only this thread pops, so the items there now can all be popped; a
            # put meanwhile waits for the next drain (a full ring's put drops its
            # oldest item, and keeps the length).
            popleft = source.popleft
            count = len(source)
            if count:
                items += [popleft() for _ in range(count)]
                tapes = tapes or source is self._tapes
        items.sort()  # by number: numbers are unique, the events never compared
        cut = bisect.bisect_left(items, (watermark,))
        ready, self._held = items[:cut], items[cut:]
        self._count_dropped(ready, watermark)
        self.drained_through = watermark
        if not tapes:
            return [event for _, event in ready]
        events: list[Event] = []
        for _, event in ready:
            if event.type == "batch_tape":
                events += event.items()  # blocks of batches (TensorFlow's) or events
            else:
                events.append(event)
        return events

    def _count_dropped(self, ready: list[tuple[int, Event]], watermark: int) -> None:
        """Count the batch events overwritten: every number missing below the
        watermark was a batch event, or a tape of several."""
        last = self._last_delivered
        sizes = self._tape_sizes
        counted_before, self._counted_tapes = self._counted_tapes, {}
        if not ready or ready[0][0] > last:
            # The usual drain: every item was numbered after the last watermark, so
            # the numbers in between that it lacks were overwritten.
            self.dropped += watermark - last - 1 - len(ready)
            if sizes:
                for seq, event in ready:
                    if event.type == "batch_tape":
                        sizes.pop(seq, None)
        else:
            for seq, event in ready:
                tape = event.type == "batch_tape"
                if tape:
                    sizes.pop(seq, None)
                if seq < last:
                    # Took its number before the last watermark but was appended
                    # after that drain: it was counted as dropped, and is not.
                    self.dropped -= counted_before.get(seq, 1) if tape else 1
                    continue
                self.dropped += seq - last - 1
                last = seq
            # Every number below the watermark is now delivered or overwritten.
            self.dropped += watermark - last - 1
        self._last_delivered = watermark
        # Tapes overwritten were counted as one number each above: add the rest.
        for seq in [seq for seq in sizes if seq < watermark]:
            size = sizes.pop(seq)
            self.dropped += size - 1
            self._counted_tapes[seq] = size
