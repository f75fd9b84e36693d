"""Long runs over SSH: detach, ps, attach, stop, stale runs and hang-ups, end to end
on the real `kmon` command."""

from __future__ import annotations

import json
import os
import re
import signal
import time
from pathlib import Path

import pytest

pytest.importorskip("pexpect", reason="pexpect is needed for the pty tests")
pytest.importorskip("pyte", reason="pyte is needed for the pty tests")

from kmon_process import run_kmon  # noqa: E402
from pty_helpers import Terminal  # noqa: E402 - after the skips above

# Trains until stopped (or for a long while), a few milliseconds per epoch.
ENDLESS = """\
import keras
import numpy as np

keras.utils.set_random_seed(0)
x = np.random.default_rng(0).normal(size=(64, 4)).astype("float32")
y = x.sum(axis=1, keepdims=True)
model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
model.compile(optimizer="sgd", loss="mse")
model.fit(x, y, batch_size=16, epochs=100000)
print("fit returned")
"""


def log_events(path: Path) -> list[dict]:
    if not path.exists():
        return []
    events = []
    for line in path.read_text().splitlines():
        try:
            events.append(json.loads(line))
        except ValueError:
            pass  # the writer may be mid-line
    return events


def wait_for_log(path: Path, condition, timeout: float, what: str) -> list[dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        events = log_events(path)
        if condition(events):
            return events
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}; log tail: {log_events(path)[-3:]}")


def epochs_done(events) -> int:
    return sum(1 for event in events if event["type"] == "epoch_end")


def ended(events) -> bool:
    return bool(events) and events[-1]["type"] == "run_end"


@pytest.fixture
def workdir(tmp_path):
    (tmp_path / "endless.py").write_text(ENDLESS)
    yield tmp_path
    for line in run_kmon("ps", cwd=tmp_path).stdout.splitlines()[1:]:
        parts = line.split()
        if len(parts) > 5 and parts[1] == "running":
            os.kill(int(parts[5]), signal.SIGKILL)


def test_detach_returns_at_once_and_the_run_can_be_listed_attached_and_stopped(workdir):
    log = workdir / "kmon-runs" / "endless.jsonl"
    started = time.monotonic()
    result = run_kmon("train", "--detach", "--log", str(log), "endless.py", cwd=workdir)
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started < 10
    assert "started run endless" in result.stdout and "kmon attach endless" in result.stdout
    # Listed as soon as --detach returns, before its first epoch.
    listing = run_kmon("ps", cwd=workdir).stdout
    assert re.search(r"^endless +running ", listing, re.MULTILINE), listing
    wait_for_log(log, lambda e: epochs_done(e) >= 2, 90, "two epochs")

    listing = run_kmon("ps", cwd=workdir).stdout
    assert "endless" in listing and "running" in listing

    terminal = Terminal(["attach", "endless"], cwd=workdir, rows=30, cols=100)
    try:
        terminal.wait_for(lambda s: "endless.py" in s and "training" in s, 30, "the live run")
        first = int(terminal.text.split("epoch ")[1].split("/")[0])
        terminal.wait_for(
            lambda s: "epoch " in s and int(s.split("epoch ")[1].split("/")[0]) > first,
            30,
            "epochs advancing live",
        )
        terminal.press("q")  # detaches only
        assert terminal.wait_for_exit() == 0
    finally:
        terminal.kill()
    assert "still running" in terminal.output
    assert not ended(log_events(log))

    stop = run_kmon("stop", "endless", cwd=workdir)
    assert stop.returncode == 0, stop.stderr
    events = wait_for_log(log, ended, 60, "the run to stop")
    assert events[-1]["status"] == "stopped"
    assert "stopped" in run_kmon("ps", cwd=workdir).stdout
    output = (workdir / "kmon-runs" / "endless.out").read_text()
    assert "fit returned" in output  # the script went on after fit() and finished


def test_ps_names_a_run_detached_into_another_folder(workdir):
    # `kmon train --detach --log det.jsonl` logs beside the script, not in kmon-runs:
    # `kmon ps` right after it said "no runs in kmon-runs".
    log = workdir / "det.jsonl"
    result = run_kmon("train", "--detach", "--log", str(log), "endless.py", cwd=workdir)
    assert result.returncode == 0, result.stderr
    elsewhere = workdir / "elsewhere"
    elsewhere.mkdir()
    try:
        for cwd in (workdir, elsewhere):
            lines = run_kmon("ps", cwd=cwd).stdout.splitlines()
            assert lines[0] == "no runs in kmon-runs"
            assert lines[1] == "running in other folders (every run: kmon ps --all):"
            assert lines[2].split()[:2] == ["RUN", "STATUS"] and "FOLDER" in lines[2]
            assert re.match(r"det +running ", lines[3]) and str(workdir) in lines[3]
        assert run_kmon("stop", "det", cwd=elsewhere).returncode == 0
        wait_for_log(log, ended, 60, "the run to stop")
        # Ended: the folder's listing is its own again.
        assert run_kmon("ps", cwd=elsewhere).stdout.splitlines() == ["no runs in kmon-runs"]
    finally:
        events = log_events(log)
        if events and not ended(events):
            os.kill(events[0]["pid"], signal.SIGKILL)


def test_a_killed_run_shows_as_stale(workdir):
    log = workdir / "kmon-runs" / "doomed.jsonl"
    assert run_kmon("train", "--detach", "--log", str(log), "endless.py", cwd=workdir).returncode == 0
    events = wait_for_log(log, lambda e: epochs_done(e) >= 1, 90, "an epoch")
    os.kill(events[0]["pid"], signal.SIGKILL)
    time.sleep(0.5)
    assert "stale" in run_kmon("ps", cwd=workdir).stdout
    stop = run_kmon("stop", "doomed", cwd=workdir)
    assert stop.returncode == 2 and "not running (stale)" in stop.stderr
    terminal = Terminal(["attach", "doomed"], cwd=workdir, rows=30, cols=100)
    try:
        terminal.wait_for(lambda s: "stale" in s, 30, "the stale status")
        terminal.press("q")
        assert terminal.wait_for_exit() == 0
    finally:
        terminal.kill()


def test_hanging_up_the_terminal_does_not_stop_training(workdir):
    """Closing the pty (what an SSH drop does) sends SIGHUP: training goes on."""
    (workdir / "finite.py").write_text(ENDLESS.replace("epochs=100000", "epochs=120"))
    log = workdir / "hangup.jsonl"
    terminal = Terminal(["train", "--log", str(log), "finite.py"], cwd=workdir, rows=30, cols=100)
    pid = terminal.child.pid
    try:
        terminal.wait_for(lambda s: "training" in s, 60, "the live monitor")
        before = epochs_done(log_events(log))
        os.close(terminal.child.child_fd)  # the terminal is gone
        terminal.child.closed = True
        events = wait_for_log(log, ended, 120, "the run to finish after the hang-up")
        assert events[-1]["status"] == "ok"
        assert epochs_done(events) == 120 > before
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
    finally:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
