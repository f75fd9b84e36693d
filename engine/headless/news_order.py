"""The script's output, passed through headless, after kmon's lines for what came
before it: ``[kmon] epoch 2/2`` before what the script prints once ``fit()``
returns, as the order they happened in."""

from __future__ import annotations

import threading

#: The longest the script's output waits for kmon's lines (the loop prints news
#: at its next wake, a tenth of a second away): output is never held for long.
MOST_SECONDS = 1.0


class OutputAfterNews:
    """Hold the script's output on its reader thread (never the training thread)
    until the headless loop has printed the lines of every event put before it.

    Args:
        session: the run (its ``last_news``).
    """

    def __init__(self, session) -> None:
        self._session = session
        self._printed = threading.Condition()
        self._through = 0
        self._closed = False
        self._asked = threading.Event()
        """Output waits: the loop should print its news now, not at its next wake."""

    def __call__(self) -> None:
        """Before output goes on to the terminal (``OutputThrough.before_write``)."""
        news = self._session.last_news
        if news < self._through or self._closed:
            return
        self._asked.set()
        with self._printed:
            self._printed.wait_for(
                lambda: news < self._through or self._closed, timeout=MOST_SECONDS
            )

    def wait(self, seconds: float) -> bool:
        """The loop's wait between wakes: ``seconds``, or less when output waits
        for its news; returns whether it does."""
        asked = self._asked.wait(seconds)
        self._asked.clear()
        return asked

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
