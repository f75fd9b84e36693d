"""Where a monitor gets its events from: a session, a recorded log, or another run's log.

A source is anything with ``drain()`` (the events since the last call), ``live``,
``buffered``, ``dropped``, ``running`` and ``request_stop()``. The TUI reads only
this interface.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Sequence
from typing import Protocol

from kmon.engine.events import Event, Notice, RunEnd


class EventSource(Protocol):
    live: bool
    """True while events can still arrive from a running job."""

    buffered: bool
    """Whether events wait in memory until drained (a session's channel in this
    process): a monitor then drains only at its frames while the run trains. False
    where a drain reads a log, a chunk at a time: drained at every tick."""

    def drain(self) -> list[Event]: ...

    @property
    def dropped(self) -> int: ...

    @property
    def running(self) -> bool: ...

    def request_stop(self) -> None: ...


class LiveSource:
    """Events from a :class:`~kmon.engine.run.session.Session` running in this process."""

    live = True
    buffered = True

    def __init__(self, session) -> None:
        self._session = session

    def drain(self) -> list[Event]:
        return self._session.drain()

    @property
    def dropped(self) -> int:
        return self._session.dropped

    @property
    def running(self) -> bool:
        return not self._session.finished

    def request_stop(self) -> None:
        self._session.request_stop()


class RecordedSource:
    """Events already recorded, e.g. read from an event log.

    Args:
        events: the events, in log order.
        per_drain: hand out at most this many per ``drain()`` (None: all at once),
            to replay a run as if live.
    """

    live = False
    dropped = 0
    running = False
    buffered = False

    def __init__(self, events: Sequence[Event], *, per_drain: int | None = None) -> None:
        self._events = list(events)
        self._position = 0
        self._per_drain = per_drain

    def drain(self) -> list[Event]:
        end = len(self._events) if self._per_drain is None else self._position + self._per_drain
        chunk = self._events[self._position : end]
        self._position += len(chunk)
        return chunk

    def request_stop(self) -> None:
        """A recording cannot be stopped."""


class FollowSource:
    """Events of a run in another process, read from its growing event log.

    The first drains hand out the log's history in chunks (so a long log shows its
    first frame at once), then whatever the run appends. When the run's process
    is gone without a ``run_end``, a ``run_end`` with status "stale" is made up for
    the display (it is never written to the log).

    Args:
        path: the run's event log.
        process: the run's process (see :mod:`kmon.engine.log.process_identity`), to
            tell a live run from a stale one; None when the log names none.
        chunk_bytes: most of the log read per drain.
    """

    live = True
    dropped = 0
    buffered = False

    def __init__(self, path, process, *, chunk_bytes: int = 4 * 1024 * 1024) -> None:
        from kmon.engine.log.eventlog import EventLogReader

        self._reader = EventLogReader(path)
        self._process = process
        self._chunk = chunk_bytes
        self._ended = False
        self._checked_at = 0.0
        self._alive = True

    @property
    def report(self):
        """What the reader skipped (garbage lines, unknown types)."""
        return self._reader.report

    def drain(self) -> list[Event]:
        events = self._reader.read_new(self._chunk)
        if any(event.type == "run_end" for event in events):
            self._ended = True
        elif not events and not self._ended and not self._process_alive():
            self._ended = True
            events.append(Notice(level="warning", text="the run's process is gone: stale run"))
            events.append(RunEnd(status="stale", exit_code=0))
        return events

    @property
    def running(self) -> bool:
        return not self._ended

    def _process_alive(self) -> bool:
        """False once the run's process is gone; a process that cannot be verified
        (an older kmon's log) counts as alive: nothing says the run ended."""
        from kmon.engine.log.process_identity import Liveness

        now = time.monotonic()
        if now - self._checked_at >= 1.0:
            self._checked_at = now
            self._alive = (
                self._process is not None and self._process.liveness() is not Liveness.GONE
            )
        return self._alive

    def request_stop(self) -> None:
        """SIGTERM to the run's process, verified first: it stops after the batch.

        Raises:
            SignalRefused: the process is gone, cannot be verified or belongs to
                another user; the message is one line for the user.
        """
        from kmon.engine.log.process_identity import SignalRefused

        if self._ended:
            return
        if self._process is None:
            raise SignalRefused("the run's log names no process to stop")
        self._process.send(signal.SIGTERM)


#: The most a :class:`LogFileSource` drain reads for: keys wait for at most this
#: while a long log is read.
MAX_BUDGET_SECONDS = 0.4
#: The most a replay reads before its first frame (:meth:`LogFileSource.has_events`).
FIRST_CHUNK_BYTES = 64 << 10

#: Shown when a replayed log has no ``run_end``.
UNFINISHED_NOTE = (
    "the log ends before the run did (no run_end): it was cut short, or the run was "
    "killed or still runs (kmon attach follows a running one)"
)


class LogFileSource:
    """A finished run's event log, read while on screen: the first drain returns
    after ``budget_seconds`` of reading, so a long log shows its first frame at
    once; each later drain reads on (the monitor folds the rest in as it goes),
    for twice as long as the one before, up to ``MAX_BUDGET_SECONDS``.

    Why growing: the monitor draws a frame after each drain, and a frame of a
    replay costs it 30-50 ms of CPU; at 0.1 s a drain, frames took a third of a
    million-batch log's time on screen (docs/benchmarks.md).

    A long log's later part is read meanwhile by a worker process
    (:mod:`~kmon.engine.log.part_read`, started here so that its start overlaps
    the monitor's): its events are handed out after this process's own part, in
    drains of the same budgets; if it fails, this process reads on where it
    stopped.

    Args:
        path: a kmon event log.
        budget_seconds: reading time of the first drain.
        chunk_bytes: bytes read at a time (256 KiB, a few ms of reading: a
            million-batch replay's part took 0.04 s more CPU at 64 KiB, its
            runs cut into 4 times as many blocks).
        parallel_bytes: logs of at least this many bytes get a worker (None:
            :data:`~kmon.engine.log.part_read.PARALLEL_BYTES`).
    """

    live = False
    dropped = 0
    buffered = False

    def __init__(
        self,
        path,
        *,
        budget_seconds: float = 0.1,
        chunk_bytes: int = 256 * 1024,
        parallel_bytes: int | None = None,
    ) -> None:
        from kmon.engine.log import part_read
        from kmon.engine.log.eventlog import EventLogReader

        self._size = os.path.getsize(path)
        self._part = part_read.start_part(path, self._size, parallel_bytes)
        # Runs of batch lines stay as decoded: the monitor folds them at once.
        self._reader = EventLogReader(
            path, batch_runs=True, stop=self._part.start if self._part is not None else None
        )
        # Its runs keep only the lines the fold reads, as a worker's do (_read).
        self._reader.extents = True
        self._first = self._reader
        """The reader of the part before the worker's."""
        self._budget = budget_seconds
        self._next_budget = budget_seconds
        self._chunk = chunk_bytes
        self._done = False
        self._pending: list[Event] = []
        self._last: Event | None = None
        self._yield_next = False
        """The next drain reads nothing: see :meth:`drain`."""
        if self._part is not None:
            # At once: its interpreter's start overlaps the monitor's imports and
            # Textual's start (the replay opens the log before importing the
            # monitor); it reads from the drain after the first frame's (go()).
            self._part.launch()

    @property
    def report(self):
        """What the reader skipped (garbage lines, unknown types), the worker's
        part included as far as it was handed out."""
        part = self._part
        if part is None or self._reader is not self._first:
            return self._reader.report
        from kmon.engine.log.part_read import merged_report

        return merged_report(self._first.report, part.report, self._first._lines)

    @property
    def worker(self):
        """The worker process reading the log's later part
        (:class:`~kmon.engine.log.part_read.WorkerPart`); None when there is none."""
        return self._part

    def close(self) -> None:
        """End the worker, if any (the monitor quit before the log was read)."""
        if self._part is not None:
            self._part.close()

    @property
    def running(self) -> bool:
        """True until the whole log was handed out."""
        return not self._done

    def has_events(self) -> bool:
        """Read up to the first events (or the end), a chunk at a time with no
        time budget: they wait for the next drain, which is the first frame's (a
        budget's worth of reading here put off that frame by as much).

        Raises:
            OSError: the log cannot be read.
        """
        self._reader.columns = False  # numpy waits until after the first frame
        # The first frame's lines decoded and folded one by one: a small chunk.
        chunk, self._chunk = self._chunk, min(self._chunk, FIRST_CHUNK_BYTES)
        try:
            while not self._pending and not self._done:
                self._pending = self._read(budget=0.0)
        finally:
            self._reader.columns, self._chunk = True, chunk
        return bool(self._pending)

    def drain(self) -> list[Event]:
        """The events read since the last drain. The first returns the first
        events (:meth:`has_events`), and the one after it nothing: the monitor
        asks again at once after a drain with events, before Textual has drawn
        its first frame, and each drain holds the event loop for its budget
        (0.1-0.4 s), so on a busy machine the first frame came after several
        (1.3-2.4 s from spawn instead of 0.4-0.7). Read nothing once, the
        monitor asks again at its next tick (0.1 s), the frame drawn meanwhile
        (a long log's worker reads on)."""
        events, self._pending = self._pending, []
        if events:
            self._yield_next = True
            return events  # the first frame's
        if self._yield_next:
            self._yield_next = False
            if self._part is not None:
                self._part.go()
            return []
        try:
            return self._read()
        except OSError:  # the file went away while on screen: show what was read
            self._done = True
            return []

    def _read(self, budget: float | None = None) -> list[Event]:
        """At least one chunk, then more until the time budget (``budget``, else
        the source's) is spent."""
        from kmon.engine.log.part_read import keep_ends, settle

        events: list[Event] = []
        if budget is None:
            budget, self._next_budget = (
                self._next_budget,
                min(2 * self._next_budget, max(MAX_BUDGET_SECONDS, self._budget)),
            )
        deadline = time.monotonic() + budget
        while not self._done:
            part = self._part
            if part is not None and self._reader is self._first and (
                self._reader.offset >= part.start
            ):
                # This process's part is read: the worker's events follow.
                _join_runs(events, part.take(deadline))
                if part.failed:  # it died or stalled: read on here where it stopped
                    self._reader, self._part = part.fallback(self._first), None
                    continue
                if part.done:
                    self._end(events)
                # What came (or nothing, at the deadline): folded and drawn while
                # the worker reads on.
                break
            elif self._reader.offset >= self._size:
                # The end: an unfinished last line counts as garbage, as in read_all.
                _join_runs(events, self._reader.read_all())
                self._end(events)
            else:
                keep_ends(events, self._reader.read_new(self._chunk))  # runs: their ends
            if time.monotonic() >= deadline:
                break
        settle(self._reader.path, events)
        if events:
            self._last = events[-1]
        return events

    def _end(self, events: list[Event]) -> None:
        """The whole log was read: say so, with a made-up end for a log that has
        none."""
        from kmon.engine.log.part_read import settle

        self._done = True
        settle(self._reader.path, events)  # (its last event may be a run's ends)
        if self._part is not None and self._part.done:
            # Its report is final: keep it as one reader's.
            self._first.report = self.report
            self._part = None
        last = events[-1] if events else self._last
        if last is not None and not isinstance(last, RunEnd):
            # For the display only (never written): the header would say
            # "training" forever.
            events.append(Notice(level="warning", text=UNFINISHED_NOTE))
            events.append(RunEnd(status="unfinished", exit_code=0, t=last.t))

    def request_stop(self) -> None:
        """A recording cannot be stopped."""


def _join_runs(events: list, more: list) -> None:
    """Append ``more`` to ``events``, a run of batch lines that a chunk's end cut
    in two joined again (one run folds faster than two; a run a worker read is
    not: its lines are read from the file only if asked for, and two runs fold to
    the same state as one)."""
    if (
        events
        and more
        and events[-1].type == more[0].type == "batch_run"
        and isinstance(events[-1].lines, list)
        and isinstance(more[0].lines, list)
    ):
        events[-1].join(more[0])
        more = more[1:]
    events += more
