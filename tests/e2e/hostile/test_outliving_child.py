"""A process the script forks keeps kmon's capture pipes after the script ended.

Nothing may follow ``run_end`` in the log, kmon must not wait for the child, and the
child's later output still reaches the terminal, as under plain python.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from kmon_process import kmon_command
from locations import REAL
from pty_helpers import Terminal

from kmon.engine.events import Log, RunEnd, RunStart
from kmon.engine.log.eventlog import EventLogWriter, read_events
from kmon.engine.run.bus import EventBus

SCRIPT = str(REAL / "forks_a_child.py")
CHILD_LINE = "child: uploaded the checkpoint"
DONE = re.compile(r"script done; child (\d+) still running")


def assert_nothing_after_run_end(log: Path) -> None:
    events, report = read_events(log)
    assert report.skipped == 0
    ends = [index for index, event in enumerate(events) if isinstance(event, RunEnd)]
    assert ends == [len(events) - 1], events[-4:]
    assert events[-1].status == "ok"
    assert CHILD_LINE not in log.read_text()


class Running:
    """A process whose stdout lines are timestamped as they come."""

    def __init__(self, command: list[str], cwd: Path) -> None:
        self.process = subprocess.Popen(
            command,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self.lines: list[tuple[float, str]] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append((time.monotonic(), line.rstrip("\n")))

    def exit_delay(self) -> float:
        """Seconds from the script's last line to this process's exit."""
        assert self.process.wait(90) == 0
        exited = time.monotonic()
        return exited - next(at for at, line in self.lines if DONE.search(line))

    def kill_child(self) -> None:
        self.process.kill()
        for _, line in self.lines:
            if DONE.search(line):
                _kill_quietly(int(DONE.search(line).group(1)))


def test_headless_exits_at_once_and_the_child_still_reaches_the_terminal(
    tmp_path: Path,
) -> None:
    log = tmp_path / "run.jsonl"
    plain = Running([sys.executable, SCRIPT, "6"], tmp_path)
    try:
        plain_delay = plain.exit_delay()
    finally:
        plain.kill_child()
    run = Running(
        [*kmon_command(), "train", "--headless", "--log", str(log), SCRIPT, "6"], tmp_path
    )
    try:
        delay = run.exit_delay()
        exited = time.monotonic()
        # kmon used to wait 4 s for the child (which sleeps 6 s) on top of what
        # python's own exit takes. 3 s of margin still catches that wait, and leaves
        # room for kmon's own exit (the log closed) on a loaded machine: 1.5 s failed
        # once under the full suite with other jobs on both cores.
        assert delay < plain_delay + 3.0, (
            f"{delay:.1f}s after the script, python {plain_delay:.1f}s"
        )
        assert_nothing_after_run_end(log)
        run.reader.join(20)  # the child's line comes once kmon is gone, through the relay
        assert not run.reader.is_alive(), "the child's output never ended"
        child = [at for at, line in run.lines if line == CHILD_LINE]
        assert child and child[0] > exited, run.lines[-4:]
    finally:
        run.kill_child()


def test_live_monitor_hands_the_childs_output_to_the_terminal_after_exit(
    tmp_path: Path,
) -> None:
    log = tmp_path / "live.jsonl"
    term = Terminal(["train", "--log", str(log), SCRIPT, "1"], cwd=tmp_path)
    try:
        term.wait_for(lambda text: "finished" in text.splitlines()[0], 60, "the finished run")
        deadline = time.monotonic() + 3  # the child prints 1 s after the script ended
        while time.monotonic() < deadline:
            term.pump(0.2)
        assert CHILD_LINE not in term.text  # the monitor owns the screen
        term.press("q")
        assert term.wait_for_exit() == 0
        handed_back = term.output.rsplit("\x1b[?1049l", 1)[1]
        assert CHILD_LINE in handed_back
        assert_nothing_after_run_end(log)
    finally:
        term.kill()


def _kill_quietly(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass


def test_bus_hands_nothing_on_after_run_end(tmp_path: Path) -> None:
    """An abandoned run's training thread, or a second ``run_end``, is not logged."""
    log = tmp_path / "bus.jsonl"
    writer = EventLogWriter(log)
    bus = EventBus(writer)
    bus.emit(RunStart(script="x.py"))
    bus.emit(RunEnd(status="stopped", exit_code=130))
    bus.emit(Log(stream="stdout", text="after the end"))
    bus.emit(RunEnd(status="ok", exit_code=0))
    writer.close()
    events, _ = read_events(log)
    assert [event.type for event in events] == ["run_start", "run_end"]
    assert bus.dropped_after_end == 2
