"""The script's output passed through to the terminal byte for byte, as it comes,
with kmon's own lines kept between the script's lines.

Headless, kmon shows what the script writes as ``python script.py`` would: a
progress line redrawn with ``\\r`` updates in place, CRLF and bytes that are not
UTF-8 reach a redirected file unchanged, and a last line without a newline stays
so. The event log gets the same output as lines (:mod:`kmon.engine.run.capture`).

kmon's own lines (``[kmon] epoch 3/10 ...``) start on a line of their own: where
the script left a line open on the same terminal or file, a newline goes first.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import TextIO


class Destination:
    """One terminal or file: the script's streams that lead to it share its lock
    and whether its last byte ended a line."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.mid_line = False
        """The last byte written here was not a newline."""


class MarkFilter:
    """Takes kmon's own marks (written into the capture pipes to find where the
    script's output stands) out of a stream of bytes, a mark cut by a read's end
    included: that end waits for the next read, or for :meth:`flush`."""

    def __init__(self, marks: tuple[bytes, ...]) -> None:
        self._marks = marks
        self._longest = max(len(mark) for mark in marks)
        self._carry = b""

    def feed(self, data: bytes) -> bytes:
        """``data`` without the marks, less a tail that may begin one."""
        data = self._carry + data
        for mark in self._marks:
            if mark in data:
                data = data.replace(mark, b"")
        keep = self._partial_mark_at_end(data)
        self._carry = data[len(data) - keep :] if keep else b""
        return data[: len(data) - keep]

    def flush(self) -> bytes:
        """The tail held back: no mark followed it (the pipe went quiet)."""
        carry, self._carry = self._carry, b""
        return carry

    def _partial_mark_at_end(self, data: bytes) -> int:
        """The length of the longest end of ``data`` that a mark begins with."""
        for length in range(min(len(data), self._longest - 1), 0, -1):
            tail = data[-length:]
            if any(mark.startswith(tail) for mark in self._marks):
                return length
        return 0


class OutputThrough:
    """Where the script's stdout and stderr are written as they come.

    Args:
        fds: the terminal's (or the redirected files') descriptors, by stream name
            (``"stdout"``, ``"stderr"``).
        marks: kmon's marks, never shown.
    """

    def __init__(self, fds: dict[str, int], marks: tuple[bytes, ...]) -> None:
        self._fds = dict(fds)
        self._filters = {stream: MarkFilter(marks) for stream in fds}
        self._destinations: dict[str, Destination] = {}
        seen: dict[tuple[int, int], Destination] = {}
        for stream, fd in fds.items():
            try:
                status = os.fstat(fd)
                key = (status.st_dev, status.st_ino)
            except OSError:
                key = (-1, fd)
            self._destinations[stream] = seen.setdefault(key, Destination())
        self.before_write: Callable[[], None] | None = None
        """Called on a reader thread before the script's bytes go out: the headless
        loop's lines for what came before them go first."""

    def write(self, stream: str, data: bytes) -> None:
        """The script's bytes read from ``stream``'s pipe (from its reader thread)."""
        self._write(stream, self._filters[stream].feed(data))

    def flush(self, stream: str) -> None:
        """The pipe went quiet: what was held back as a possible mark goes out."""
        self._write(stream, self._filters[stream].flush())

    def _write(self, stream: str, data: bytes) -> None:
        if not data:
            return
        if self.before_write is not None:
            self.before_write()
        destination = self._destinations[stream]
        with destination.lock:
            write_all(self._fds[stream], data)
            destination.mid_line = not data.endswith(b"\n")

    def lines(self, stream: str, out: TextIO) -> KmonLines:
        """``out`` (which leads where ``stream`` does) for kmon's own lines."""
        return KmonLines(out, self._destinations[stream])


def write_all(fd: int, data: bytes) -> None:
    """All of ``data`` to ``fd``; nothing where it is closed or the terminal is lost
    (that output had nowhere to go)."""
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    except OSError:
        pass


class KmonLines:
    """A text stream for kmon's own lines, each begun on a line of its own.

    Args:
        out: the stream written to.
        destination: where the script's output to the same place stands.
    """

    def __init__(self, out: TextIO, destination: Destination) -> None:
        self._out, self._destination = out, destination

    def write(self, text: str) -> int:
        if not text:
            return 0
        with self._destination.lock:
            if self._destination.mid_line:
                self._out.write("\n")
            self._out.write(text)
            self._out.flush()
            self._destination.mid_line = not text.endswith("\n")
        return len(text)

    def flush(self) -> None:
        self._out.flush()

    def fileno(self) -> int:
        return self._out.fileno()
