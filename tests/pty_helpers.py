"""Running the real ``kmon`` command on a pseudo-terminal, read back through pyte."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import pexpect
import pyte
import pytest
from kmon_process import kmon_command
from process_report import process_report

EXIT_SECONDS = 30.0


class Terminal:
    """kmon running on a pty of ``rows`` x ``cols``, mirrored into a pyte screen."""

    def __init__(self, args: list[str], *, cwd: Path, rows: int = 24, cols: int = 80) -> None:
        env = dict(os.environ, TERM="xterm-256color")
        for name in ("COLUMNS", "LINES", "NO_COLOR", "TEXTUAL"):
            env.pop(name, None)
        self.screen = pyte.Screen(cols, rows)
        self.stream = pyte.ByteStream(self.screen)
        self.raw = bytearray()
        self.eof = False
        program, *prefix = kmon_command()
        self.child = pexpect.spawn(
            program, [*prefix, *args], cwd=str(cwd), env=env, dimensions=(rows, cols)
        )

    @property
    def text(self) -> str:
        return "\n".join(self.screen.display)

    @property
    def output(self) -> str:
        """Everything the program wrote, decoded."""
        return self.raw.decode("utf-8", errors="replace")

    def pump(self, seconds: float = 0.2) -> None:
        """Read what is there for up to ``seconds`` and feed it to the screen."""
        deadline = time.monotonic() + seconds
        while not self.eof:
            try:
                data = self.child.read_nonblocking(65536, timeout=0.2)
            except pexpect.TIMEOUT:
                data = b""
            except pexpect.EOF:
                self.eof = True
                break
            if data:
                self.raw.extend(data)
                self.stream.feed(data)
            if time.monotonic() >= deadline:
                break

    def wait_for(self, condition: Callable[[str], bool], timeout: float, what: str) -> str:
        """Pump until ``condition(screen text)`` holds; fail showing the screen."""
        deadline = time.monotonic() + timeout
        while True:
            self.pump(0.2)
            text = self.text
            if condition(text):
                return text
            if self.eof or time.monotonic() > deadline:
                pytest.fail(
                    f"timed out waiting for {what} (eof={self.eof}); screen:\n{text}\n"
                    f"--- last output:\n{self.output[-2000:]!r}"
                )

    def wait_for_exit(self, timeout: float = EXIT_SECONDS) -> int:
        deadline = time.monotonic() + timeout
        while not self.eof and time.monotonic() < deadline:
            self.pump(0.5)
        if not self.eof:
            pytest.fail(
                f"kmon did not exit within {timeout}s; screen:\n{self.text}\n"
                f"--- where it is:\n{process_report(self.child.pid)}"
            )
        self.child.close()
        assert self.child.signalstatus is None, f"killed by signal {self.child.signalstatus}"
        return self.child.exitstatus

    def press(self, key: str) -> None:
        self.child.send(key)

    def kill(self) -> None:
        if self.child.isalive():
            self.child.terminate(force=True)
