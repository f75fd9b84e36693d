"""Every exit path gives the terminal back, signals end kmon as documented, and a
hang-up never leaves it spinning (issue #17, items 6-10, 12 and 18), on the real
``kmon`` command in a tmux pane."""

from __future__ import annotations

import json
import re
import signal
import time
from pathlib import Path

import pytest
from locations import DATA
from tmux_pane import Pane, alive, cpu_seconds, send

SHORT_FIT = """\
import sys

import keras
import numpy as np

epochs = int(sys.argv[1]) if len(sys.argv) > 1 else 2
x = np.random.default_rng(0).normal(size=(64, 4)).astype("float32")
y = x.sum(axis=1, keepdims=True)
model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
model.compile(optimizer="sgd", loss="mse")
model.fit(x, y, batch_size=16, epochs=epochs, verbose=0)
print("fit returned", flush=True)
"""

OS_EXIT = (
    SHORT_FIT
    + """\
import os

print("about to os._exit", flush=True)
os._exit(4)
"""
)

READS_STDIN = (
    """\
print("type your name:", flush=True)
try:
    name = input()
except EOFError:
    name = None
print(f"name={name!r}", flush=True)
"""
    + SHORT_FIT
)


def events(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]


def only_log(folder: Path) -> Path:
    logs = sorted((folder / "kmon-runs").glob("*.jsonl"))
    assert len(logs) == 1, logs
    return logs[0]


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "fit.py").write_text(SHORT_FIT)
    (tmp_path / "os_exit.py").write_text(OS_EXIT)
    (tmp_path / "reads_stdin.py").write_text(READS_STDIN)
    return tmp_path


@pytest.fixture
def pane_factory():
    panes: list[Pane] = []

    def make(*args, **kwargs) -> Pane:
        pane = Pane(*args, **kwargs)
        panes.append(pane)
        return pane

    yield make
    for pane in panes:
        pane.close()


def monitor_up(screen: str) -> bool:
    return "Quit" in screen and "Loss" in screen


def test_os_exit_in_the_script_finishes_the_log_and_restores_the_terminal(workdir, pane_factory):
    pane = pane_factory(["train", "os_exit.py", "2"], cwd=workdir)
    assert pane.exit_code(timeout=90) == 4
    pane.assert_terminal_sane()
    assert "the script called os._exit(4)" in pane.screen
    log = events(only_log(workdir))
    assert log[-1]["type"] == "run_end", log[-1]
    assert log[-1]["exit_code"] == 4 and log[-1]["status"] == "failed"
    assert any(e["type"] == "log" and e["text"] == "about to os._exit" for e in log)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_ends_a_replay_in_the_monitor_and_restores_the_terminal(
    workdir, pane_factory, signum
):
    recorded = DATA / "two_fits.jsonl"
    pane = pane_factory(["replay", str(recorded)], cwd=workdir)
    pane.wait_for(monitor_up, 60, "the replay on screen")
    send(pane.kmon_pid(), signum)
    assert pane.exit_code(timeout=20) == 128 + signum
    pane.assert_terminal_sane()


def test_sighup_with_the_terminal_still_there_restores_it_and_training_finishes(
    workdir, pane_factory
):
    pane = pane_factory(["train", "fit.py", "60"], cwd=workdir)
    pane.wait_for(monitor_up, 60, "the monitor")
    kmon = pane.kmon_pid()
    send(kmon, signal.SIGHUP)
    pane.exit_code(timeout=90)
    pane.assert_terminal_sane()
    log = events(only_log(workdir))
    assert log[-1]["type"] == "run_end" and log[-1]["status"] == "ok", log[-1]
    assert sum(e["type"] == "epoch_end" for e in log) == 60


def test_live_sigterm_stops_the_run_and_exits_and_a_second_one_exits_at_once(workdir, pane_factory):
    pane = pane_factory(["train", "fit.py", "100000"], cwd=workdir)
    pane.wait_for(monitor_up, 60, "the monitor")
    kmon = pane.kmon_pid()
    pane.wait_for(lambda s: "● training" in s, 60, "training")
    send(kmon, signal.SIGTERM)
    started = time.monotonic()
    assert pane.exit_code(timeout=30) == 0  # stopped as asked: the script returned normally
    assert time.monotonic() - started < 15
    pane.assert_terminal_sane()
    log = events(only_log(workdir))
    assert log[-1]["type"] == "run_end" and log[-1]["status"] == "stopped"


def test_a_second_sigterm_ends_kmon_while_the_run_will_not_stop(workdir, pane_factory):
    # A script that ignores stop_training: it trains in a loop of fits and sleeps.
    (workdir / "stubborn.py").write_text(
        SHORT_FIT.replace(
            "model.fit(", "import time\nwhile True:\n    time.sleep(0.5)\n    model.fit("
        )
    )
    pane = pane_factory(["train", "stubborn.py", "1"], cwd=workdir)
    pane.wait_for(monitor_up, 60, "the monitor")
    kmon = pane.kmon_pid()
    # Once fits run: before the first one a stop interrupts the script, which ends it.
    pane.wait_for(lambda s: "between fits" in s, 60, "the loop of fits")
    send(kmon, signal.SIGTERM)
    time.sleep(1.0)
    send(kmon, signal.SIGTERM)
    started = time.monotonic()
    code = pane.exit_code(timeout=20)
    assert time.monotonic() - started < 5
    assert code == 130
    pane.assert_terminal_sane()
    log = events(only_log(workdir))
    assert log[-1]["type"] == "run_end" and log[-1]["status"] == "stopped"


def test_an_outside_sigint_stops_the_live_run_and_a_later_hangup_keeps_the_log_whole(
    workdir, pane_factory
):
    # Training ignores the stop for a while (fits of a few seconds, one after another),
    # so the hang-up comes while kmon waits for it.
    (workdir / "slow_stop.py").write_text(
        SHORT_FIT.replace("epochs=epochs", "epochs=epochs, steps_per_epoch=4").replace(
            "model.fit(", "for _ in range(3):\n    model.fit("
        )
    )
    pane = pane_factory(["train", "slow_stop.py", "300"], cwd=workdir)
    pane.wait_for(monitor_up, 60, "the monitor")
    kmon = pane.kmon_pid()
    time.sleep(2)
    send(kmon, signal.SIGINT)
    time.sleep(0.5)
    send(kmon, signal.SIGHUP)
    pane.exit_code(timeout=60)
    log = events(only_log(workdir))
    assert log[-1]["type"] == "run_end", log[-1]
    pane.assert_terminal_sane()


def test_stderr_redirected_to_a_file_still_shows_the_monitor(workdir, pane_factory):
    pane = pane_factory(["train", "fit.py", "3"], cwd=workdir, redirect="2>err.log")
    pane.wait_for(monitor_up, 60, "the monitor on the terminal")
    pane.wait_for(lambda s: "finished" in s, 60, "the run's end")
    pane._tmux("send-keys", "-t", "main", "q")
    assert pane.exit_code(timeout=30) == 0
    pane.assert_terminal_sane()
    err = (workdir / "err.log").read_bytes()
    assert b"\x1b[" not in err, err[:200]


def test_a_script_reading_stdin_gets_end_of_file_under_the_monitor(workdir, pane_factory):
    pane = pane_factory(["train", "reads_stdin.py", "200"], cwd=workdir)
    pane.wait_for(monitor_up, 60, "the monitor")
    pane._tmux("send-keys", "-t", "main", "o")  # keys are the monitor's: the Output tab
    pane.wait_for(lambda s: "name=None" in s, 30, "the script's EOF")
    pane._tmux("send-keys", "-t", "main", "q")
    pane.wait_for(lambda s: "Stop training and quit?" in s, 10, "the quit dialog")
    pane._tmux("send-keys", "-t", "main", "y")
    code = pane.exit_code(timeout=30)
    assert code == 0, pane.screen  # never 134 (Fatal Python error: _enter_buffered_busy)
    pane.assert_terminal_sane()
    log = events(only_log(workdir))
    notices = [e["text"] for e in log if e["type"] == "notice"]
    assert any("the script got end of file" in text for text in notices), notices


def test_term_dumb_runs_headless_and_says_so(workdir, pane_factory):
    pane = pane_factory(["train", "fit.py", "2"], cwd=workdir, env={"TERM": "dumb"})
    assert pane.exit_code(timeout=60) == 0
    screen = pane.screen
    assert "TERM=dumb cannot show the monitor: no live monitor, running headless" in screen
    assert "epoch 2/2" in screen or "epoch 2" in screen
    pane.assert_terminal_sane()
    assert pane.flag("alternate_on") == "0"


def assert_ends_after_hangup(kmon: int, seconds: float) -> None:
    """kmon (pid ``kmon``) is gone within ``seconds`` of its terminal hanging up;
    else it is killed and the failure says how much CPU it was spinning."""
    deadline = time.monotonic() + seconds
    while alive(kmon) and time.monotonic() < deadline:
        time.sleep(0.2)
    if alive(kmon):
        used = cpu_seconds(kmon)
        time.sleep(1)
        spinning = cpu_seconds(kmon) - used
        send(kmon, signal.SIGKILL)
        pytest.fail(
            f"kmon still alive {seconds:g} s after the hang-up (used {spinning:.2f} s CPU in 1 s)"
        )


def test_a_hangup_after_a_menu_run_ends_kmon_instead_of_spinning(workdir, pane_factory):
    scenarios = DATA / "user_scenarios"
    pane = pane_factory(["--from", str(scenarios)], cwd=workdir)
    pane.wait_for(lambda s: "TensorFlow ready" in s, 90, "the menu, TensorFlow loaded")
    kmon = pane.kmon_pid()
    time.sleep(1)
    keys = lambda *k: pane._tmux("send-keys", "-t", "main", *k)  # noqa: E731
    keys("/")
    keys("-l", "tiny")
    pane.wait_for(lambda s: "A tiny linear fit" in s, 10, "the filtered list")
    keys("Enter")
    time.sleep(0.5)
    keys("Enter")
    pane.wait_for(lambda s: "which variant" in s, 10, "the variant picker")
    keys("Enter")
    pane.wait_for(lambda s: "finished" in s, 90, "the scenario's end")
    pane.kill_session()
    assert_ends_after_hangup(kmon, 15)


@pytest.mark.parametrize("attempt", range(3))
def test_a_hangup_during_a_replay_ends_kmon(workdir, pane_factory, attempt):
    """The SSH connection drops while ``kmon replay`` shows a log: kmon ends. Before,
    about one hang-up in six left Textual's input thread spinning on the pipe at end
    of file that replaces the terminal, keeping kmon alive at most of a core (a
    race: the attempts raise the odds of catching it)."""
    log = DATA / "failed.jsonl"
    pane = pane_factory(["replay", str(log)], cwd=workdir)
    pane.wait_for(lambda s: "failed" in s, 60, "the replayed run")
    kmon = pane.kmon_pid()
    pane.kill_session()
    # Idle, not spinning, one replay in CI outlived 10 s under load: 30 s of grace.
    assert_ends_after_hangup(kmon, 30)


@pytest.mark.parametrize("before", ["", "nohup"])
def test_a_hangup_leaves_headless_output_to_a_file_whole(workdir, pane_factory, before):
    """``kmon train --headless s.py > out.txt`` (with or without nohup), then the SSH
    connection drops: the file still gets every epoch line and the summary."""
    epochs = 40
    pane = pane_factory(
        ["train", "--headless", "fit.py", str(epochs)],
        cwd=workdir,
        before=before,
        redirect="> out.txt 2> err.txt",
    )
    kmon = pane.kmon_pid()
    out = workdir / "out.txt"
    deadline = time.monotonic() + 120
    # Training is under way: its second epoch line (fast epochs share one).
    while not re.search(r"\[kmon\] epochs? 2", out.read_text() if out.exists() else ""):
        assert time.monotonic() < deadline, out.read_text() if out.exists() else "no output"
        time.sleep(0.2)
    pane.kill_session()
    deadline = time.monotonic() + 90
    while alive(kmon):
        assert time.monotonic() < deadline, "kmon did not finish after the hang-up"
        time.sleep(0.2)
    text = out.read_text()
    assert f"epoch {epochs}/{epochs}" in text, text[-500:]
    assert "fit returned" in text
    assert "[kmon] run ok" in text, text[-500:]


def test_a_lost_terminal_whose_sighup_never_comes_still_lets_kmon_end(workdir, pane_factory):
    """The terminal goes (the SSH connection drops) and no SIGHUP reaches kmon: here
    its shell ignores it (``trap '' HUP``, as some job launchers leave it); a SIGHUP
    that comes after the monitor's next frame is the same race. That frame's write
    is refused. Before, it ended Textual's writer thread, and kmon then blocked on
    that thread's full queue forever, long after training ended (one full suite in
    about five saw it with the SIGHUP). Now the refused write closes the monitor as
    a hang-up does: training finishes headless and kmon ends with it."""
    pane = pane_factory(
        ["train", "--log", "run.jsonl", "fit.py", "150"], cwd=workdir, before="trap '' HUP;"
    )
    pane.wait_for(monitor_up, 90, "the monitor")
    kmon = pane.kmon_pid()
    shell = int(pane.pid_file.read_text())
    pane.kill_session()
    send(shell, signal.SIGKILL)  # it ignores SIGHUP too: it would sleep on after the test
    log = workdir / "run.jsonl"
    deadline = time.monotonic() + 120
    while not log.exists() or '"type":"run_end"' not in log.read_text():
        assert time.monotonic() < deadline, "the run did not end after the hang-up"
        time.sleep(0.2)
    assert events(log)[-1]["status"] == "ok"
    assert sum(event["type"] == "epoch_end" for event in events(log)) == 150
    assert_ends_after_hangup(kmon, 30)
