"""Fan-out of events from the training thread to every consumer."""

from __future__ import annotations

from typing import Protocol

from kmon.engine.events import Event


class EventSink(Protocol):
    def put(self, event: Event) -> None:
        """Accept one event. Must be O(1) and never block."""


class EventBus:
    """Hands each event to every sink, in the order sinks were added.

    ``emit`` runs on the training thread (and on capture threads), so sinks must be
    non-blocking: :class:`~kmon.engine.run.channel.MonitorChannel` for a monitor,
    :class:`~kmon.engine.log.eventlog.EventLogWriter` for the log.

    ``run_end`` is the last event of a run: whatever comes after it (a training
    thread that outlived an abandoned run, a second ``run_end``) is dropped and
    counted in :attr:`dropped_after_end`.
    """

    def __init__(self, *sinks: EventSink) -> None:
        self._sinks: tuple[EventSink, ...] = tuple(sinks)
        self._ended = False
        self.dropped_after_end = 0
        """Events emitted after ``run_end``, not handed to any sink."""

    def add(self, sink: EventSink) -> None:
        self._sinks = (*self._sinks, sink)

    def emit(self, event: Event) -> None:
        if self._ended:
            self.dropped_after_end += 1
            return
        if event.type == "run_end":
            self._ended = True
        for sink in self._sinks:
            sink.put(event)
