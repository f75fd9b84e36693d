"""The user's terminal: whether the live monitor can draw on it, and how to hand it
back in the state kmon found it, on every exit path that can run code.

Textual restores the terminal when an app exits normally. It cannot when the process
leaves another way: the script calls ``os._exit``, a signal ends kmon, or a hang-up
points the terminal's descriptors at ``/dev/null`` first. :class:`TerminalModes`
keeps the modes kmon found and puts them back from those paths.
"""

from __future__ import annotations

import errno
import fcntl
import os
import sys
import termios
import threading
from collections.abc import Callable, Mapping

#: What Textual's driver turns on, turned off in the order its ``stop_application_mode``
#: and ``_disable_mouse_support`` use: mouse reporting, bracketed paste, focus events,
#: the Kitty keyboard protocol (before leaving the alternate screen), the alternate
#: screen, then the cursor and line wrap back on.
RESET_SEQUENCE = (
    b"\x1b[?1000l\x1b[?1002l\x1b[?1003l\x1b[?1015l\x1b[?1006l"
    b"\x1b[?2004l\x1b[?1004l\x1b[<u\x1b[?1049l\x1b[?25h\x1b[?7h"
)

#: TERM values that cannot show the monitor (no cursor addressing, no colour).
DUMB_TERMINALS = frozenset({"dumb", "unknown"})


def live_terminal_problem(
    stdin=None, stdout=None, environ: Mapping[str, str] | None = None
) -> str | None:
    """Why the live monitor cannot run here, in a few words; None when it can.

    The monitor reads keys from stdin and draws on stdout (or stderr): both must be
    a terminal that understands escape sequences.
    """
    stdin = sys.stdin if stdin is None else stdin
    stdout = sys.stdout if stdout is None else stdout
    environ = os.environ if environ is None else environ
    if not is_terminal(stdin):
        return "stdin is not a terminal"
    if not is_terminal(stdout):
        return "stdout is not a terminal"
    term = environ.get("TERM", "")
    if term in DUMB_TERMINALS:
        return f"TERM={term} cannot show the monitor"
    return None


def is_terminal(stream) -> bool:
    """Whether ``stream`` is open on a terminal (False for None, closed or detached)."""
    try:
        return stream is not None and stream.isatty()
    except (ValueError, OSError):  # closed, or detached
        return False


def drawing_stream(stderr, stdout):
    """The stream the monitor draws on: Textual writes to stderr, but a user who
    redirects it (``2>err.log``, common with TensorFlow's logging) still has the
    monitor on the terminal stdout leads to."""
    return stderr if is_terminal(stderr) else stdout


class LossTolerantStream:
    """A stream the monitor draws on, whose writes never raise: a write or flush
    the terminal refuses is dropped, and so are all after it. Only a terminal that
    is gone (EIO or ENXIO, once its SSH connection or window is) calls ``on_lost``,
    once, from the thread that wrote; another error (EBADF: kmon itself closing the
    stream, as on the script's ``os._exit``) must not silence the terminal that
    kmon is about to hand back.

    Textual writes from a thread of its own, which ends on the first exception.
    The app's next writes then block on that thread's full queue, and kmon would
    never exit, even after training ended: what a hang-up did when its SIGHUP came
    after the next frame (or never came: ``nohup``).

    Args:
        stream: the terminal's stream.
        on_lost: called once, at the first write or flush refused.
    """

    def __init__(self, stream, on_lost: Callable[[], None]) -> None:
        self._stream = stream
        self._on_lost = on_lost
        self.lost = False

    def write(self, text: str) -> int:
        if not self.lost:
            try:
                return self._stream.write(text)
            except OSError as exc:
                self._lose(exc)
        return len(text)

    def flush(self) -> None:
        if not self.lost:
            try:
                self._stream.flush()
            except OSError as exc:
                self._lose(exc)

    def _lose(self, error: OSError) -> None:
        self.lost = True
        if error.errno in (errno.EIO, errno.ENXIO):
            self._on_lost()

    def __getattr__(self, name: str):
        # fileno, isatty, encoding...: the terminal's own, for Textual's sizing.
        return getattr(self._stream, name)


class TerminalModes:
    """The terminal's line discipline as kmon found it, and a way back to it.

    Args:
        fd: a descriptor on the terminal (stdin, typically). Nothing is saved, and
            :meth:`restore` does nothing, when it is not a terminal.
    """

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._attrs = None
        try:
            if os.isatty(fd):
                self._attrs = termios.tcgetattr(fd)
        except (OSError, termios.error):
            pass
        self._lock = threading.Lock()

    @property
    def saved(self) -> bool:
        return self._attrs is not None

    def restore(self, fd: int | None = None, *, write_fd: int | None = None) -> bool:
        """Turn the monitor's modes off and put the saved line discipline back.

        Safe from a signal handler and from any thread; never blocks on a terminal
        that stopped reading, never raises. Returns whether the terminal took it.

        Args:
            fd: the terminal to restore (default: the one the modes were read from).
            write_fd: where to write the reset sequence (default: ``fd``).
        """
        if self._attrs is None:
            return False
        fd = self.fd if fd is None else fd
        write_fd = fd if write_fd is None else write_fd
        if not self._lock.acquire(blocking=False):
            return False  # a restore is already under way (a signal during one)
        try:
            _write_without_blocking(write_fd, RESET_SEQUENCE)
            termios.tcsetattr(fd, termios.TCSANOW, self._attrs)
            return True
        except (OSError, termios.error):  # the terminal is gone: nothing to restore
            return False
        finally:
            self._lock.release()


def _write_without_blocking(fd: int, data: bytes) -> None:
    flags = fcntl.fcntl(fd, fcntl.F_GETFL)
    fcntl.fcntl(fd, fcntl.F_SETFL, flags | os.O_NONBLOCK)
    try:
        os.write(fd, data)
    except BlockingIOError:
        pass  # a terminal that stopped reading (XOFF) gets no reset: never hang here
    finally:
        fcntl.fcntl(fd, fcntl.F_SETFL, flags)


class ExitHook:
    """Runs ``before_exit`` when this process calls ``os._exit``, then exits.

    ``os._exit`` ends the process without unwinding: no ``finally``, no atexit, so the
    monitor cannot give the terminal back nor the log writer flush. While installed,
    ``os._exit`` first calls ``before_exit(code)``. A forked child (another pid)
    exits at once, as it expects: the terminal and the log are its parent's.

    Args:
        before_exit: called with the exit code; its exceptions are swallowed.
    """

    def __init__(self, before_exit: Callable[[int], None]) -> None:
        self._before_exit = before_exit
        self._pid = os.getpid()
        self._real_exit = os._exit
        # One bound method, kept: each ``self._exit`` makes a new one, so ``is``
        # would never find the installed hook, and it stayed on after the monitor.
        self._hook = self._exit
        self._installed = False

    def __enter__(self) -> ExitHook:
        os._exit = self._hook
        self._installed = True
        return self

    def __exit__(self, *exc_info) -> None:
        if self._installed and os._exit is self._hook:
            os._exit = self._real_exit
        self._installed = False

    def _exit(self, code: int) -> None:
        if os.getpid() == self._pid:
            try:
                self._before_exit(code)
            except BaseException:  # noqa: BLE001 - the process must exit whatever happens
                pass
        self._real_exit(code)
