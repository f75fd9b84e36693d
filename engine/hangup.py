"""Keeps training alive when the terminal goes away (an SSH connection drops).

On SIGHUP the terminal's file descriptors are pointed at /dev/null: every later
write, by kmon or by Textual, goes nowhere instead of failing, and the run carries
on to the end with its event log complete. SIGTERM (``kmon stop``) asks training to
stop gracefully, like ``q`` in the monitor.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable


class TerminalGuard:
    """Installs SIGHUP and SIGTERM handlers for the duration of a run.

    Args:
        terminal_fds: descriptors that reach the terminal (stdin, and the saved
            copies of stdout/stderr while output is captured).
        on_hangup: called after the terminal was silenced (e.g. close the monitor).
        on_terminate: called on SIGTERM (e.g. request a graceful stop).
    """

    def __init__(
        self,
        terminal_fds: list[int],
        *,
        on_hangup: Callable[[], None] | None = None,
        on_terminate: Callable[[], None] | None = None,
    ) -> None:
        self.terminal_fds = list(terminal_fds)
        self.on_hangup = on_hangup
        self.on_terminate = on_terminate
        self.hung_up = False
        self._previous: dict[int, object] = {}

    def __enter__(self) -> TerminalGuard:
        if threading.current_thread() is threading.main_thread():
            for signum, handler in (
                (signal.SIGHUP, self._hangup),
                (signal.SIGTERM, self._terminate),
            ):
                self._previous[signum] = signal.signal(signum, handler)
        return self

    def __exit__(self, *exc_info) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()

    def silence(self) -> None:
        """Point every terminal descriptor at /dev/null (once)."""
        if self.hung_up:
            return
        self.hung_up = True
        null = os.open(os.devnull, os.O_RDWR)
        try:
            for fd in self.terminal_fds:
                try:
                    os.dup2(null, fd)
                except OSError:
                    pass
        finally:
            os.close(null)

    def _hangup(self, signum, frame) -> None:
        self.silence()
        if self.on_hangup is not None:
            self.on_hangup()

    def _terminate(self, signum, frame) -> None:
        if self.on_terminate is not None:
            self.on_terminate()
