"""A wake-up call for one waiting thread, which any thread may ring.

The headless loop sleeps until something it prints may have come (an epoch's end,
an alarm, the script's output waiting for kmon's lines, the run's end) instead of
waking ten times a second to look: on a 2-core VM each timed wake costs a thread
80-160 µs of CPU whatever it then finds (``docs/benchmarks.md``).

A pipe rather than a :class:`threading.Event`: ringing is one ``write`` with no
lock, so it is safe anywhere, a signal handler on the waiting thread included (an
Event's lock, held there by the interrupted wait, would deadlock it).
"""

from __future__ import annotations

import os
import select
import weakref


class Bell:
    """Rung by any thread; :meth:`wait` returns once it was rung since :meth:`clear`.

    Its descriptors are closed when the bell is collected, never before: a late
    ring (a thread the run gave up on) must not write into a reused descriptor.
    """

    def __init__(self) -> None:
        self._read, self._write = os.pipe()
        os.set_blocking(self._read, False)
        os.set_blocking(self._write, False)
        weakref.finalize(self, _close_both, self._read, self._write)

    def ring(self) -> None:
        """Wake the waiter (at once, or at its next :meth:`wait`). Never blocks."""
        try:
            os.write(self._write, b"\0")
        except OSError:
            pass  # full: rung many times already, and the waiter will see it

    def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for a ring; whether one came."""
        readable, _, _ = select.select([self._read], [], [], timeout)
        return bool(readable)

    def clear(self) -> None:
        """Forget the rings so far: the next :meth:`wait` waits for a new one."""
        try:
            while os.read(self._read, 4096):
                pass
        except OSError:
            pass  # BlockingIOError: nothing left to read


def _close_both(*fds: int) -> None:
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass
