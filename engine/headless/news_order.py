"""The script's output, passed through headless, after kmon's lines for what came
before it: ``[kmon] epoch 2/2`` before what the script prints once ``fit()``
returns, as the order they happened in."""

from __future__ import annotations

import threading

from kmon.engine.run.bell import Bell

#: The longest the script's output waits for kmon's lines (the loop, woken by the
#: wait, prints them within a tenth of a second): output is never held for long.
MOST_SECONDS = 1.0


class OutputAfterNews:
    """Hold the script's output on its reader thread (never the training thread)
    until the headless loop has printed the lines of every event put before it.

    Args:
        session: the run (its ``last_news``).
        bell: what the loop sleeps on, rung here when output waits; None: a bell
            of its own.
    """

    def __init__(self, session, bell: Bell | None = None) -> None:
        self._session = session
        self._printed = threading.Condition()
        self._through = 0
        self._closed = False
        self._bell = bell if bell is not None else Bell()
        """Rung when output waits: the loop should print its news now."""

    def __call__(self) -> None:
        """Before output goes on to the terminal (``OutputThrough.before_write``)."""
        news = self._session.last_news
        if news < self._through or self._closed:
            return
        self._bell.ring()
        with self._printed:
            self._printed.wait_for(
                lambda: news < self._through or self._closed, timeout=MOST_SECONDS
            )

    def wait(self, seconds: float) -> bool:
        """The loop's wait between wakes: ``seconds``, or less when the bell rings
        (output waits for its news, or whatever else rings it); whether it did.
        The ring stands until :meth:`clear`."""
        return self._bell.wait(seconds)

    def clear(self) -> None:
        """The loop is about to drain: rings so far are answered by it."""
        self._bell.clear()

    def printed(self, through: int) -> None:
        """The loop printed every event numbered below ``through``."""
        with self._printed:
            self._through = through
            self._printed.notify_all()

    def close(self) -> None:
        """The loop prints no more: nothing waits for it."""
        with self._printed:
            self._closed = True
            self._printed.notify_all()
