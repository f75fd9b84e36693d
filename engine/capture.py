"""Captures a run's stdout and stderr at the file-descriptor level.

Python ``print`` and raw writes to fd 1/2 (TensorFlow's C++ logging, for one) both
become :class:`~kmon.engine.events.Log` events instead of landing on the terminal,
where they would scribble over the monitor.
"""

from __future__ import annotations

import codecs
import os
import select
import sys
import threading
from collections.abc import Callable
from typing import TextIO

from .events import Event, Log

#: A partial line (a prompt, a progress bar) is emitted after this much quiet.
PARTIAL_LINE_SECONDS = 0.5
#: Written through the pipes by :meth:`OutputCapture.sync`; never shown.
_SYNC_MARK = "\x00kmon-sync\x00"


class OutputCapture:
    """Redirects fds 1 and 2 into pipes while active.

    After :meth:`start`, :attr:`terminal_out` and :attr:`terminal_err` write to the
    real terminal (or whatever fds 1 and 2 were), for the monitor and for the
    headless reporter.

    Args:
        emit: receives one ``Log`` event per line, from reader threads.
    """

    def __init__(self, emit: Callable[[Event], None]) -> None:
        self._emit = emit
        self._saved_fds: dict[int, int] = {}
        self._readers: list[threading.Thread] = []
        self._synced: dict[str, threading.Event] = {}
        self._saved_streams: tuple[TextIO, TextIO, TextIO, TextIO] | None = None
        self.terminal_out: TextIO | None = None
        self.terminal_err: TextIO | None = None
        self.script_stdout: TextIO | None = None
        self.script_stderr: TextIO | None = None

    @property
    def active(self) -> bool:
        return bool(self._saved_fds)

    def start(self) -> None:
        for stream in (sys.stdout, sys.stderr):
            _flush_quietly(stream)
        self._saved_streams = (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__)
        for fd, name in ((1, "stdout"), (2, "stderr")):
            self._saved_fds[fd] = os.dup(fd)
            read_end, write_end = os.pipe()
            os.dup2(write_end, fd)
            os.close(write_end)
            reader = threading.Thread(
                target=self._pump, args=(read_end, name), name=f"kmon-capture-{name}", daemon=True
            )
            reader.start()
            self._readers.append(reader)
        self.terminal_out = _text_stream(self._saved_fds[1])
        self.terminal_err = _text_stream(self._saved_fds[2])
        self.script_stdout = _text_stream(1)
        self.script_stderr = _text_stream(2)
        self.install_python_streams()

    def install_python_streams(self) -> None:
        """Point ``sys.stdout``/``sys.stderr`` at the captured fds.

        Textual swaps ``sys.stdout`` for its own print capture while an app runs, so
        the monitor calls this again once it is up.
        """
        if self.script_stdout is not None:
            sys.stdout = self.script_stdout
            sys.stderr = self.script_stderr

    def sync(self, timeout: float = 2.0) -> None:
        """Wait until everything written so far has been emitted as events.

        The runner calls this before ``run_end``, so the script's last lines are
        not reported after the run ended.
        """
        if not self.active:
            return
        for stream in (sys.stdout, sys.stderr, self.script_stdout, self.script_stderr):
            _flush_quietly(stream)
        for fd, name in ((1, "stdout"), (2, "stderr")):
            self._synced[name] = threading.Event()
            os.write(fd, _SYNC_MARK.encode())
        for event in self._synced.values():
            event.wait(timeout)

    def stop(self, timeout: float = 2.0) -> None:
        """Restore fds and streams; wait for the readers to emit what is left."""
        if not self.active:
            return
        for stream in (sys.stdout, sys.stderr, self.script_stdout, self.script_stderr):
            _flush_quietly(stream)
        for fd, saved in self._saved_fds.items():
            os.dup2(saved, fd)
        if self._saved_streams is not None:
            sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__ = self._saved_streams
        for reader in self._readers:
            reader.join(timeout)
        for stream in (self.terminal_out, self.terminal_err):
            _flush_quietly(stream)
        for saved in self._saved_fds.values():
            os.close(saved)
        self._saved_fds.clear()
        self._readers.clear()

    def _pump(self, fd: int, stream: str) -> None:
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        pending = ""
        try:
            while True:
                readable, _, _ = select.select([fd], [], [], PARTIAL_LINE_SECONDS)
                if not readable:
                    if pending:
                        self._emit_line(stream, pending)
                        pending = ""
                    continue
                data = os.read(fd, 65536)
                if not data:
                    break
                pending += decoder.decode(data)
                if _SYNC_MARK in pending:
                    before, _, pending = pending.partition(_SYNC_MARK)
                    *lines, partial = before.split("\n")
                    for line in [*lines, partial] if partial else lines:
                        self._emit_line(stream, line)
                    synced = self._synced.get(stream)
                    if synced is not None:
                        synced.set()
                *lines, pending = pending.split("\n")
                for line in lines:
                    self._emit_line(stream, line)
            pending += decoder.decode(b"", final=True)
            if pending:
                self._emit_line(stream, pending)
        finally:
            os.close(fd)

    def _emit_line(self, stream: str, line: str) -> None:
        # A carriage return redraws the line on a terminal: keep what would show.
        text = line.rstrip("\r").rsplit("\r", 1)[-1]
        self._emit(Log(stream=stream, text=text))


def _text_stream(fd: int) -> TextIO:
    return open(  # noqa: SIM115 - lives as long as the capture
        fd, "w", buffering=1, encoding="utf-8", errors="replace", closefd=False
    )


def _flush_quietly(stream) -> None:
    if stream is None:
        return
    try:
        stream.flush()
    except (OSError, ValueError):
        pass
