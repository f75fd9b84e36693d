"""Captures a run's stdout and stderr at the file-descriptor level.

Python ``print`` and raw writes to fd 1/2 (TensorFlow's C++ logging, for one) both
become :class:`~kmon.engine.events.Log` events instead of landing on the terminal,
where they would scribble over the monitor.

A process the script started keeps fds 1 and 2, so it writes into the capture pipes
even after the script ended. Nothing may follow ``run_end`` in the log: once the
run is over (:meth:`OutputCapture.finish_run`) such output is held, and reaches the
terminal when the capture stops; if the process is still running then, a ``cat``
relay carries its later output on to the terminal, as under plain python.
"""

from __future__ import annotations

import codecs
import os
import select
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import TextIO

from kmon.engine.events import Event, Log
from kmon.engine.run.output_through import OutputThrough, write_all

#: A partial line (a prompt, a progress bar) is emitted after this much quiet.
PARTIAL_LINE_SECONDS = 0.5
#: Written through the pipes by :meth:`OutputCapture.sync`; never shown.
_SYNC_MARK = "\x00kmon-sync\x00"
#: Written by :meth:`OutputCapture.finish_run`: what follows is not the run's.
_END_MARK = "\x00kmon-end\x00"
#: Output after the run's end held per stream until the capture stops; beyond it,
#: the writer waits (the pipe fills) rather than anything being lost.
HOLD_BYTES = 1 << 20
#: At most this much is drained when the capture stops; the rest goes to the relay.
_DRAIN_BYTES = 1 << 20


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
        self._wake: tuple[int, int] | None = None
        self.relays: list[subprocess.Popen] = []
        """``cat`` processes carrying a still-running child's output to the terminal."""
        self._saved_streams: tuple[TextIO, TextIO, TextIO, TextIO] | None = None
        self.terminal_out: TextIO | None = None
        self.terminal_err: TextIO | None = None
        self.script_stdout: TextIO | None = None
        self.script_stderr: TextIO | None = None
        self.through: OutputThrough | None = None
        """With :meth:`start`'s ``pass_through``: the script's output on its way to
        the terminal as it comes."""

    @property
    def active(self) -> bool:
        return bool(self._saved_fds)

    def start(self, *, pass_through: bool = False) -> None:
        """Capture fds 1 and 2.

        Args:
            pass_through: also write the script's output to the terminal, byte for
                byte as it comes (headless, :mod:`~kmon.engine.run.output_through`);
                else it reaches the terminal only as the events' lines.
        """
        for stream in (sys.stdout, sys.stderr):
            _flush_quietly(stream)
        self._saved_streams = (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__)
        self._wake = os.pipe()
        ends = {}
        for fd, name in ((1, "stdout"), (2, "stderr")):
            self._saved_fds[fd] = os.dup(fd)
            read_end, write_end = os.pipe()
            os.dup2(write_end, fd)
            os.close(write_end)
            ends[name] = read_end
        if pass_through:
            self.through = OutputThrough(
                {"stdout": self._saved_fds[1], "stderr": self._saved_fds[2]},
                (_SYNC_MARK.encode(), _END_MARK.encode()),
            )
        for name, read_end in ends.items():
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
        """Wait until everything written so far has been emitted as events."""
        self._write_mark(_SYNC_MARK, timeout)

    def finish_run(self, timeout: float = 2.0) -> None:
        """Emit everything the script wrote, then nothing more: call it just before
        ``run_end``. Later output (a process the script started that outlived it) is
        held for the terminal, where :meth:`stop` puts it."""
        self._write_mark(_END_MARK, timeout)

    def _write_mark(self, mark: str, timeout: float) -> None:
        if not self.active:
            return
        for stream in (sys.stdout, sys.stderr, self.script_stdout, self.script_stderr):
            _flush_quietly(stream)
        for fd, name in ((1, "stdout"), (2, "stderr")):
            self._synced[name] = threading.Event()
            os.write(fd, mark.encode())
        for event in self._synced.values():
            event.wait(timeout)

    def stop(self, timeout: float = 2.0) -> None:
        """Restore fds and streams; emit what the script left in the pipes.

        Does not wait for the pipes' end-of-file: a process the script started may
        hold them for as long as it lives. What it wrote after the run's end goes to
        the terminal, and a relay takes over its pipes if it is still running.
        """
        if not self.active:
            return
        for stream in (sys.stdout, sys.stderr, self.script_stdout, self.script_stderr):
            _flush_quietly(stream)
        for fd, saved in self._saved_fds.items():
            os.dup2(saved, fd)
        if self._saved_streams is not None:
            sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__ = self._saved_streams
        os.write(self._wake[1], b"x")
        for reader in self._readers:
            reader.join(timeout)
        for stream in (self.terminal_out, self.terminal_err):
            _flush_quietly(stream)
        for saved in self._saved_fds.values():
            os.close(saved)
        for wake_fd in self._wake:
            os.close(wake_fd)
        self._wake = None
        self._saved_fds.clear()
        self._readers.clear()

    def _pump(self, fd: int, stream: str) -> None:
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        pending = ""
        held = bytearray()  # after the run's end: for the terminal, not the log
        ended = at_eof = False
        wake = self._wake[0]
        terminal = self._saved_fds[1 if stream == "stdout" else 2]
        through = self.through
        try:
            while True:
                watch = [wake] if ended and len(held) >= HOLD_BYTES else [fd, wake]
                try:
                    readable, _, _ = select.select(watch, [], [], PARTIAL_LINE_SECONDS)
                except (OSError, ValueError):  # stop() gave up waiting and closed it
                    return
                if wake in readable:
                    break  # stop(): fds 1 and 2 are restored
                if not readable:
                    if through is not None:
                        through.flush(stream)
                    if pending:
                        self._emit_line(stream, pending)
                        pending = ""
                    continue
                data = os.read(fd, 65536)
                if not data:
                    at_eof = True
                    break
                if through is not None:
                    through.write(stream, data)
                if ended:
                    if through is None:
                        held += data
                    continue
                pending += decoder.decode(data)
                pending, ended, after = self._take_marks(stream, pending)
                if ended:
                    if through is None:
                        held += after.encode() + decoder.getstate()[0]
                    continue
                *lines, pending = pending.split("\n")
                for line in lines:
                    self._emit_line(stream, line)
            if not at_eof:
                at_eof, rest = _drain(fd)
                if through is not None:
                    through.write(stream, rest)
                if not ended:
                    pending += decoder.decode(rest)
                elif through is None:
                    held += rest
            if through is not None:
                through.flush(stream)
            if not ended:
                pending += decoder.decode(b"", final=True)
                *lines, partial = pending.split("\n")
                for line in [*lines, partial] if partial else lines:
                    self._emit_line(stream, line)
            write_all(terminal, bytes(held))
            if not at_eof:
                self._relay(fd, terminal)
        finally:
            os.close(fd)

    def _take_marks(self, stream: str, pending: str) -> tuple[str, bool, str]:
        """Emit the lines before a sync or end mark and signal :meth:`_write_mark`.

        Returns what is left to parse, whether the end mark came, and what followed
        it (no longer the run's)."""
        for mark in (_SYNC_MARK, _END_MARK):
            if mark not in pending:
                continue
            before, _, after = pending.partition(mark)
            *lines, partial = before.split("\n")
            for line in [*lines, partial] if partial else lines:
                self._emit_line(stream, line)
            synced = self._synced.get(stream)
            if synced is not None:
                synced.set()
            if mark == _END_MARK:
                return "", True, after
            pending = after
        return pending, False, ""

    def _relay(self, fd: int, terminal: int) -> None:
        """A process the script started still holds the pipe: let ``cat`` carry what
        it writes to the terminal, for as long as it lives (kmon may exit first)."""
        try:
            relay = subprocess.Popen(
                ["cat"], stdin=fd, stdout=terminal, stderr=subprocess.DEVNULL, close_fds=True
            )
        except OSError:
            return  # no cat: that process gets EPIPE once kmon is gone
        self.relays.append(relay)

    def _emit_line(self, stream: str, line: str) -> None:
        # A carriage return redraws the line on a terminal: keep what would show.
        text = line.rstrip("\r").rsplit("\r", 1)[-1]
        self._emit(Log(stream=stream, text=text))


def _drain(fd: int) -> tuple[bool, bytes]:
    """What the pipe holds now, without waiting; and whether every writer is gone."""
    data = bytearray()
    while len(data) < _DRAIN_BYTES:
        readable, _, _ = select.select([fd], [], [], 0)
        if not readable:
            return False, bytes(data)
        chunk = os.read(fd, 65536)
        if not chunk:
            return True, bytes(data)
        data += chunk
    return False, bytes(data)


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
