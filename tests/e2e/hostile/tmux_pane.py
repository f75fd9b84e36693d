"""The real ``kmon`` command in a tmux pane, and the state it leaves the terminal in.

The pane runs ``sh -c 'kmon ...; stty -a'``: a non-interactive sh never saves or
restores terminal modes (an interactive bash would, and hide a raw terminal left by
a killed program), so ``stty -a`` shows exactly what kmon left. tmux itself tells
whether the alternate screen and mouse reporting are still on.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from kmon_process import kmon_command
from process_report import process_report


class Pane:
    """``kmon args`` in a fresh tmux server of its own, ``cols`` x ``rows``.

    Args:
        args: kmon's arguments.
        cwd: where it runs.
        env: extra environment variables.
        before: shell words put before the command (e.g. ``nohup``).
        redirect: shell redirections after it (e.g. ``2>err.log``).
    """

    def __init__(
        self,
        args: list[str],
        *,
        cwd: Path,
        env: dict[str, str] | None = None,
        before: str = "",
        redirect: str = "",
        cols: int = 100,
        rows: int = 30,
    ) -> None:
        self.cwd = cwd
        self.socket = f"kmon-test-{uuid.uuid4().hex[:8]}"
        self.rc_file = cwd / f"{self.socket}.rc"
        self.stty_file = cwd / f"{self.socket}.stty"
        self.pid_file = cwd / f"{self.socket}.pid"
        command = " ".join(shlex.quote(word) for word in [*kmon_command(), *args])
        exports = "".join(f"export {k}={shlex.quote(v)}; " for k, v in (env or {}).items())
        script = (
            f"cd {shlex.quote(str(cwd))}; echo $$ > {self.pid_file.name}; {exports}"
            f"{before} {command} {redirect}; "
            f"echo $? > {self.rc_file.name}; stty -a > {self.stty_file.name}; sleep 600"
        )
        environment = dict(os.environ, TERM="xterm-256color")
        for name in ("COLUMNS", "LINES", "NO_COLOR", "TEXTUAL", "TMUX"):
            environment.pop(name, None)
        self._tmux(
            "new-session",
            "-d",
            "-s",
            "main",
            "-x",
            str(cols),
            "-y",
            str(rows),
            "sh",
            "-c",
            script,
            env=environment,
        )

    def _tmux(self, *args: str, env: dict | None = None) -> str:
        done = subprocess.run(
            ["tmux", "-L", self.socket, *args], capture_output=True, text=True, env=env, timeout=30
        )
        return done.stdout

    @property
    def screen(self) -> str:
        return self._tmux("capture-pane", "-p", "-t", "main")

    def flag(self, name: str) -> str:
        return self._tmux("display", "-p", "-t", "main", f"#{{{name}}}").strip()

    def wait_for(self, condition: Callable[[str], bool], timeout: float, what: str) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            screen = self.screen
            if condition(screen):
                return screen
            time.sleep(0.2)
        pytest.fail(f"timed out waiting for {what}; screen:\n{self.screen}")

    def kmon_pid(self, timeout: float = 30) -> int:
        """The kmon process: the pane's sh's child running kmon."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.pid_file.exists() and self.pid_file.read_text().strip():
                shell = int(self.pid_file.read_text())
                children = _children(shell)
                if children:
                    return children[0]
            time.sleep(0.1)
        pytest.fail("kmon did not start")

    def exit_code(self, timeout: float) -> int:
        """Wait for kmon to end; its exit code."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.stty_file.exists() and self.stty_file.read_text().strip():
                return int(self.rc_file.read_text())
            time.sleep(0.2)
        shell = self.pid_file.read_text().strip() if self.pid_file.exists() else ""
        where = "\n".join(process_report(pid) for pid in _children(int(shell))) if shell else ""
        pytest.fail(f"kmon did not exit within {timeout} s; screen:\n{self.screen}\n{where}")

    def assert_terminal_sane(self) -> None:
        """Cooked mode with echo, the normal screen, no mouse reporting."""
        modes = set(self.stty_file.read_text().split())
        for mode in ("icanon", "echo", "isig", "icrnl", "opost"):
            assert mode in modes, f"{mode} is off after kmon: {sorted(modes)}"
        assert self.flag("alternate_on") == "0", "left on the alternate screen"
        assert self.flag("mouse_any_flag") == "0", "mouse reporting left on"
        assert self.flag("cursor_flag") == "1", "cursor left hidden"

    def kill_session(self) -> None:
        """What a dropped SSH connection does to the terminal: the pane's pty closes."""
        self._tmux("kill-server")

    def close(self) -> None:
        self._tmux("kill-server")
        # tmux leaves its socket behind when the server is killed: tidy /tmp.
        folder = Path(os.environ.get("TMUX_TMPDIR", "/tmp")) / f"tmux-{os.getuid()}"
        (folder / self.socket).unlink(missing_ok=True)


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(child) for child in text.split()]


def send(pid: int, signum: signal.Signals) -> None:
    os.kill(pid, signum)


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
