"""Scripts that install their own signal handlers run under kmon as under python.

kmon runs the script on a background thread, where ``signal.signal`` raises
``ValueError: signal only works in main thread``; kmon forwards the script's handlers
to the main thread instead. Each case runs a real script from ``tests/data/real/``
under plain ``python`` and under the real ``kmon train``, and compares.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from kmon_process import kmon_command
from locations import REAL
from pty_helpers import Terminal

from kmon.engine.events import Log, RunEnd
from kmon.engine.log.eventlog import read_events

START_SECONDS = 60.0


class Running:
    """A process whose stdout is read line by line in the background."""

    def __init__(self, command: list[str], cwd: Path) -> None:
        self.process = subprocess.Popen(
            command,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        self.errors: list[str] = []
        self._readers = [
            threading.Thread(target=self._read, args=(stream, lines), daemon=True)
            for stream, lines in (
                (self.process.stdout, self.lines),
                (self.process.stderr, self.errors),
            )
        ]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _read(stream, lines: list[str]) -> None:
        for line in stream:
            lines.append(line.rstrip("\n"))

    def wait_for_line(self, text: str, timeout: float = START_SECONDS) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.lines:
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.process.kill()
                self.finish()
                pytest.fail(f"never printed {text!r}; stdout: {self.lines}\nstderr: {self.errors}")
            time.sleep(0.05)

    def finish(self, timeout: float = 60.0) -> tuple[int, str]:
        """Wait for the exit; returns the exit code and stderr."""
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise
        for reader in self._readers:
            reader.join(10)
        return self.process.returncode, "\n".join(self.errors)


def start(runner: str, script: str, *args: str, cwd: Path) -> Running:
    if runner == "python":
        command = [sys.executable, str(REAL / script), *args]
    else:
        command = [*kmon_command(), "train", "--headless", "--log", "run.jsonl"]
        command += [str(REAL / script), *args]
    return Running(command, cwd)


def run_end(log: Path) -> RunEnd:
    events, report = read_events(log)
    assert report.skipped == 0
    assert isinstance(events[-1], RunEnd), events[-3:]
    return events[-1]


@pytest.mark.parametrize("runner", ["python", "kmon"])
def test_sigterm_handler_saves_a_checkpoint_and_exits_0(tmp_path: Path, runner: str) -> None:
    run = start(runner, "sigterm_checkpoint.py", "ck.weights.h5", cwd=tmp_path)
    run.wait_for_line("training")
    run.process.send_signal(signal.SIGTERM)
    code, err = run.finish()

    assert code == 0, err[-3000:]
    assert (tmp_path / "ck.weights.h5").is_file()
    assert any(line.startswith("got signal 15") for line in run.lines), run.lines
    assert "checkpoint saved: ck.weights.h5" in run.lines
    assert "Traceback" not in err
    if runner == "kmon":
        end = run_end(tmp_path / "run.jsonl")
        # The script stopped itself: kmon's own graceful stop never ran.
        assert (end.status, end.exit_code) == ("ok", 0)
        assert "stopping after this batch" not in "\n".join(run.lines)


def test_handler_that_calls_sys_exit_sets_the_exit_code(tmp_path: Path) -> None:
    # Under plain python the SystemExit(3) raised in the handler ends the script with
    # 3; kmon raises it in the script's thread.
    run = start("kmon", "sigterm_exit_code.py", cwd=tmp_path)
    run.wait_for_line("training")
    run.process.send_signal(signal.SIGTERM)
    code, err = run.finish()

    assert code == 3, err[-3000:]
    assert "preempted: leaving with exit code 3" in run.lines
    assert "fit returned: the handler did not run" not in run.lines
    assert "Traceback" not in err
    end = run_end(tmp_path / "run.jsonl")
    assert (end.status, end.exit_code) == ("failed", 3)


def test_signal_api_reads_the_same_under_kmon_as_under_python(tmp_path: Path) -> None:
    seen = {}
    for runner in ("python", "kmon"):
        run = start(runner, "signal_api.py", cwd=tmp_path)
        code, err = run.finish()
        assert code == 0, err[-3000:]
        seen[runner] = [line for line in run.lines if line.startswith("api:")]
    assert len(seen["python"]) == 12, seen["python"]
    assert "api: the script caught: raised by the handler" in seen["python"]
    assert seen["kmon"] == seen["python"]
    events, _ = read_events(tmp_path / "run.jsonl")
    logged = [event.text for event in events if isinstance(event, Log)]
    assert [line for line in logged if line.startswith("api:")] == seen["python"]


def test_live_monitor_forwards_sigterm_to_the_script(tmp_path: Path) -> None:
    log = tmp_path / "live.jsonl"
    term = Terminal(
        ["train", "--log", str(log), str(REAL / "sigterm_checkpoint.py"), "ck.weights.h5"],
        cwd=tmp_path,
    )
    try:
        deadline = time.monotonic() + START_SECONDS
        while not _logged(log, "training"):
            term.pump(0.2)
            assert not term.eof and time.monotonic() < deadline, term.text
        os.kill(term.child.pid, signal.SIGTERM)
        while not _logged(log, "checkpoint saved: ck.weights.h5"):
            term.pump(0.2)
            assert not term.eof and time.monotonic() < deadline, term.text
        end = run_end_when_written(log, term)
        assert (end.status, end.exit_code) == ("ok", 0)
        assert (tmp_path / "ck.weights.h5").is_file()
        if not term.eof:
            term.press("q")  # a finished run quits without asking
        assert term.wait_for_exit() == 0
        assert "Traceback" not in term.output
    finally:
        term.kill()


def _logged(log: Path, text: str) -> bool:
    if not log.is_file():
        return False
    events, _ = read_events(log)
    return any(isinstance(event, Log) and event.text == text for event in events)


def run_end_when_written(log: Path, term: Terminal, timeout: float = 20.0) -> RunEnd:
    deadline = time.monotonic() + timeout
    while True:
        events, _ = read_events(log)
        if events and isinstance(events[-1], RunEnd):
            return events[-1]
        assert time.monotonic() < deadline, f"no run_end; screen:\n{term.text}"
        term.pump(0.2)


@pytest.mark.parametrize(
    ("given", "status", "still_training"),
    [("ignore", "ok", True), ("default", "stopped", False)],
)
def test_sigterm_given_back_or_ignored(
    tmp_path: Path, given: str, status: str, still_training: bool
) -> None:
    # SIG_IGN ignores SIGTERM as under python; SIG_DFL hands it back to kmon, whose
    # graceful stop ends the run with run_end where python would die at once.
    run = start("kmon", "sigterm_restored.py", given, cwd=tmp_path)
    run.wait_for_line("training")
    run.process.send_signal(signal.SIGTERM)
    code, err = run.finish()

    assert "Traceback" not in err
    assert ("still training 2 s later" in run.lines) is still_training
    end = run_end(tmp_path / "run.jsonl")
    assert (end.status, code) == (status, end.exit_code)
