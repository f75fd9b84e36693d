"""Who reads the keyboard while the live monitor runs: the monitor, never the script.

Both reading one terminal splits the keys between them at random, and a script left
blocked in ``sys.stdin.readline()`` when kmon exits aborts the interpreter
(``Fatal Python error: _enter_buffered_busy``). So while the monitor runs, the
terminal moves to a descriptor of its own and the script's stdin (``sys.stdin``, and
descriptor 0 for code that reads it directly) is at end of file, as under
``python script.py < /dev/null``; the first read says so in a notice. A script that
needs typed input runs with ``--headless``, where stdin stays the terminal.
"""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Callable

from kmon.engine.events import Event, Notice

STDIN_NOTICE = (
    "the script read from stdin: under the live monitor the keyboard belongs to the "
    "monitor, so the script got end of file (run with --headless to type into it)"
)


class MonitorKeyboard:
    """Moves the terminal off descriptor 0 for the monitor; the script reads EOF.

    After :meth:`start`, :attr:`fd` is the terminal (hand it to the monitor as
    ``sys.__stdin__``, where Textual's driver takes its input from) and descriptor 0
    is ``/dev/null``. :meth:`stop` puts everything back.

    Args:
        emit: receives the notice when the script first reads its stdin.
    """

    def __init__(self, emit: Callable[[Event], None]) -> None:
        self._emit = emit
        self.fd: int | None = None
        self._saved: tuple | None = None

    @property
    def active(self) -> bool:
        return self.fd is not None

    def start(self) -> None:
        if self.active:
            return
        self.fd = os.dup(0)
        os.set_inheritable(self.fd, False)  # the script's children get /dev/null too
        _point_at_null(0)
        self._saved = (sys.stdin, sys.__stdin__)
        sys.__stdin__ = open(  # noqa: SIM115 - lives as long as the monitor
            self.fd, encoding="utf-8", errors="replace", closefd=False
        )
        sys.stdin = EndOfFileStdin(self._emit)

    def stop(self, *, terminal_gone: bool = False) -> None:
        """Give descriptor 0 back; after a hang-up it stays at ``/dev/null``.

        Args:
            terminal_gone: the terminal hung up: whatever reads stdin from now on
                (headless, to the run's end) gets end of file, not the dead line.
        """
        if not self.active:
            return
        if not terminal_gone:
            os.dup2(self.fd, 0)
        os.close(self.fd)
        self.fd = None
        if self._saved is not None:
            sys.stdin, sys.__stdin__ = self._saved
            self._saved = None


def _point_at_null(fd: int) -> None:
    null = os.open(os.devnull, os.O_RDONLY)
    try:
        os.dup2(null, fd)
    finally:
        os.close(null)


class EndOfFileStdin(io.TextIOBase):
    """A ``sys.stdin`` at end of file that tells the user, once, that it was read."""

    def __init__(self, emit: Callable[[Event], None]) -> None:
        super().__init__()
        self._emit = emit
        self._told = False

    @property
    def encoding(self) -> str:
        return "utf-8"

    @property
    def buffer(self) -> io.BytesIO:
        self._tell()
        return io.BytesIO(b"")

    def readable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        return 0  # /dev/null while the monitor runs: direct reads get EOF as well

    def read(self, size: int | None = -1) -> str:
        self._tell()
        return ""

    def readline(self, size: int | None = -1) -> str:
        self._tell()
        return ""

    def readlines(self, hint: int = -1) -> list[str]:
        self._tell()
        return []

    def _tell(self) -> None:
        if not self._told:
            self._told = True
            self._emit(Notice(level="warning", text=STDIN_NOTICE))
