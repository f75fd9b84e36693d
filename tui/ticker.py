"""A callback every few tenths of a second on asyncio's own timer, for an app."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from textual.app import App


class Ticker:
    """Calls ``callback`` every ``seconds`` while ``app`` runs, from a handle of the
    running loop's (``call_later``). Textual's interval timer wakes a task and awaits
    twice a call: about 50 µs more of the UI thread each time (0.5 ms a second at
    10 Hz), holding the GIL a training thread needs. An exception goes to the app's
    handler, as from Textual's timers (the app shows it and exits).

    The callback may put its next call off (:meth:`sleep`): even an idle tick costs
    a live monitor's UI thread ~0.1 ms on the caches a training thread leaves cold.
    """

    def __init__(self, app: App, seconds: float, callback: Callable[[], None]) -> None:
        self._app, self._seconds, self._callback = app, seconds, callback
        self._loop = asyncio.get_running_loop()
        self._next = seconds
        self._handle = self._loop.call_later(seconds, self._run)

    def sleep(self, seconds: float) -> None:
        """Called from the callback: the next call comes ``seconds`` after this one
        (never sooner than the usual interval), then at the usual interval again."""
        self._next = max(seconds, self._seconds)

    def _run(self) -> None:
        if not self._app.is_running:
            return
        self._next = self._seconds
        try:
            self._callback()
        except Exception as error:  # noqa: BLE001 - as Textual's timers do
            self._app._handle_exception(error)  # noqa: SLF001
        finally:
            self._handle = self._loop.call_later(self._next, self._run)

    def cancel(self) -> None:
        self._handle.cancel()
