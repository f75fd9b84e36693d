"""A script that leaves a thread running for ever (no daemon): Python would not exit
until Ctrl+C gives it up, and kmon waits the same way, saying so; one stop gives it
up and kmon exits, headless or live, with the terminal sane."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from kmon_process import clean_env, kmon_command
from locations import REAL
from tmux_pane import Pane, alive, send

SCRIPT = "forgotten_heartbeat_thread.py"
WAITING = "kmon waits for the threads"


@pytest.fixture
def pane(tmp_path: Path):
    shutil.copy(REAL / SCRIPT, tmp_path / SCRIPT)
    panes: list[Pane] = []

    def make(*options: str) -> Pane:
        panes.append(Pane(["train", *options, SCRIPT, "beats.txt"], cwd=tmp_path, cols=120))
        return panes[-1]

    yield make
    for each in panes:
        each.close()


def run_end(folder: Path) -> dict:
    [log] = sorted((folder / "kmon-runs").glob("*.jsonl"))
    events = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    assert events[-1]["type"] == "run_end", events[-1]
    return events[-1]


def assert_heartbeat_stopped(folder: Path) -> None:
    beats = (folder / "beats.txt").read_text()
    time.sleep(0.6)  # three beats' time: the thread went with the process
    assert (folder / "beats.txt").read_text() == beats


def test_headless_ctrl_c_gives_the_thread_up_and_exits(pane, tmp_path):
    headless = pane("--headless")
    headless.wait_for(lambda s: WAITING in s.replace("\n", ""), 120, "the wait's notice")
    assert "(heartbeat)" in headless.screen
    send(headless.kmon_pid(), signal.SIGINT)
    started = time.monotonic()
    assert headless.exit_code(timeout=20) == 0  # Python's own code after Ctrl+C there
    assert time.monotonic() - started < 5
    headless.assert_terminal_sane()
    screen = headless.screen.replace("\n", "")
    assert "gives them up" in screen and "Ctrl+C again to quit now" in screen
    end = run_end(tmp_path)
    assert (end["status"], end["exit_code"], end["fits"]) == ("stopped", 0, 1)
    assert_heartbeat_stopped(tmp_path)


def test_live_quit_asks_to_give_the_thread_up_and_exits(pane, tmp_path):
    live = pane()
    live.wait_for(lambda s: "waiting for the script's threads" in s, 120, "the waiting phase")
    live.wait_for(lambda s: "Quit" in s, 10, "the footer")
    send_keys(live, "q")
    live.wait_for(lambda s: "Give up the script's threads and quit?" in s, 10, "the dialog")
    send_keys(live, "y")
    assert live.exit_code(timeout=20) == 0
    live.assert_terminal_sane()
    assert "kmon: run stopped (exit code 0)" in live.screen
    end = run_end(tmp_path)
    assert (end["status"], end["fits"]) == ("stopped", 1)
    assert_heartbeat_stopped(tmp_path)


def test_live_quit_ends_a_child_process_it_gives_up(tmp_path):
    # q reaches no one but kmon (Ctrl+C in a terminal would reach the child too):
    # kmon ends the child it gave up, or multiprocessing's atexit would wait for it.
    script = "forgotten_child_process.py"
    shutil.copy(REAL / script, tmp_path / script)
    live = Pane(["train", script, "child.pid"], cwd=tmp_path, cols=120)
    try:
        live.wait_for(lambda s: "waiting for the script's threads" in s, 120, "the waiting phase")
        assert "(watcher)" in run_log_notice(tmp_path)
        child = int((tmp_path / "child.pid").read_text())
        assert alive(child)
        send_keys(live, "q")
        live.wait_for(lambda s: "Give up the script's threads and quit?" in s, 10, "the dialog")
        send_keys(live, "y")
        assert live.exit_code(timeout=20) == 0
        live.assert_terminal_sane()
        assert not alive(child), "the given-up child outlived kmon"
    finally:
        live.close()


def run_log_notice(folder: Path) -> str:
    [log] = sorted((folder / "kmon-runs").glob("*.jsonl"))
    events = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    return " ".join(e["text"] for e in events if e.get("topic") == "script_threads")


@pytest.mark.parametrize("under", ["python", "kmon"])
def test_the_scripts_sigterm_handler_ends_its_thread_during_the_wait(tmp_path, under):
    # The wait runs with the script's signal handlers on, as Python's does.
    script = "sigterm_stops_worker_thread.py"
    shutil.copy(REAL / script, tmp_path / script)
    command = (
        [sys.executable, script]
        if under == "python"
        else [*kmon_command(), "train", "--headless", script]
    )
    run = subprocess.Popen(
        command,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        stdin=subprocess.DEVNULL,
        env=clean_env(),
    )
    try:
        seen = ""
        while "training done" not in seen:
            line = run.stdout.readline()
            assert line, f"ended early: {seen}"
            seen += line
        time.sleep(1.0)  # the wait has begun: the thread ticks on
        run.send_signal(signal.SIGTERM)
        rest, _ = run.communicate(timeout=30)
    finally:
        run.kill()
    assert run.returncode == 0
    assert "SIGTERM: stopping the uploader" in rest and "uploader stopped after" in rest
    if under == "kmon":
        assert run_end(tmp_path)["status"] == "ok"


def send_keys(pane: Pane, keys: str) -> None:
    pane._tmux("send-keys", "-t", "main", keys)
