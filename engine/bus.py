"""Fan-out of events from the training thread to every consumer."""

from __future__ import annotations

from typing import Protocol

from .events import Event


class EventSink(Protocol):
    def put(self, event: Event) -> None:
        """Accept one event. Must be O(1) and never block."""


class EventBus:
    """Hands each event to every sink, in the order sinks were added.

    ``emit`` runs on the training thread (and on capture threads), so sinks must be
    non-blocking: :class:`~kmon.engine.channel.MonitorChannel` for a monitor,
    :class:`~kmon.engine.eventlog.EventLogWriter` for the log.
    """

    def __init__(self, *sinks: EventSink) -> None:
        self._sinks: tuple[EventSink, ...] = tuple(sinks)

    def add(self, sink: EventSink) -> None:
        self._sinks = (*self._sinks, sink)

    def emit(self, event: Event) -> None:
        for sink in self._sinks:
            sink.put(event)
