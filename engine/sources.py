"""Where a monitor gets its events from: a live session or a recorded log.

A source is anything with ``drain()`` (the events since the last call), ``live``,
``dropped`` and ``request_stop()``. The TUI reads only this interface.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from .events import Event


class EventSource(Protocol):
    live: bool
    """True while events can still arrive from a running job."""

    def drain(self) -> list[Event]: ...

    @property
    def dropped(self) -> int: ...

    @property
    def running(self) -> bool: ...

    def request_stop(self) -> None: ...


class LiveSource:
    """Events from a :class:`~kmon.engine.session.Session` running in this process."""

    live = True

    def __init__(self, session) -> None:
        self._session = session

    def drain(self) -> list[Event]:
        return self._session.channel.drain()

    @property
    def dropped(self) -> int:
        return self._session.channel.dropped

    @property
    def running(self) -> bool:
        return not self._session.run.finished.is_set()

    def request_stop(self) -> None:
        self._session.run.request_stop()


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
