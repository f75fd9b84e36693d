"""Notifications for real: ``kmon train --notify-cmd`` runs the command for each alarm
raised and for the run's end; the live monitor rings the bell and sends OSC 9 /
OSC 777 to its terminal (a real pty), and ``--no-notify`` keeps them all off."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from kmon_process import run_kmon

from kmon.engine.events import NOTIFY_TOPIC
from kmon.engine.log.eventlog import read_events

# NaN in the inputs: the nonfinite_data alarm at fit start, then exploding_gradients
# (the first gradient probe, at step 1, finds NaN gradients), then nan_loss.
NAN_SCRIPT = """\
import keras
import numpy as np

x = np.random.default_rng(0).normal(size=(64, 4)).astype("float32")
x[3, 1] = np.nan
model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
model.compile(optimizer="sgd", loss="mse")
model.fit(x, x[:, :1], batch_size=16, epochs=2, verbose=0)
print("script done")
"""

RECORD = (
    'printf "%s|%s|%s|%s|%s\\n" "$KMON_EVENT" "$KMON_RUN_ID" "$KMON_STATUS" '
    '"$KMON_MESSAGE" "$KMON_LOG" >> '
)


@pytest.fixture
def nan_script(tmp_path: Path) -> Path:
    script = tmp_path / "nan_train.py"
    script.write_text(NAN_SCRIPT)
    return script


def test_notify_cmd_runs_for_alarms_and_the_run_end(tmp_path: Path, nan_script: Path) -> None:
    seen, log = tmp_path / "seen.txt", tmp_path / "run.jsonl"
    result = run_kmon(
        "train", "--headless", "--log", str(log), "--notify-cmd", RECORD + str(seen),
        str(nan_script), cwd=tmp_path,
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    # Each command runs as soon as its alarm is raised, beside the ones still
    # running: the order their lines land in the file is the machine's.
    lines = sorted(line.split("|") for line in seen.read_text().splitlines())
    assert [(kind, status) for kind, _, status, _, _ in lines] == [
        ("alarm", "error"),
        ("alarm", "error"),
        ("alarm", "error"),
        ("run_end", "ok"),
    ]
    assert {run_id for _, run_id, _, _, _ in lines} == {"run"}
    assert {path for *_, path in lines} == {str(log)}
    assert lines[0][3].startswith("error in run run: exploding_gradients: ")
    assert lines[1][3].startswith("error in run run: nan_loss: ")
    assert lines[2][3].startswith("error in run run: nonfinite_data: NaN/Inf in the data")
    assert lines[3][3] == "run run finished"
    events, _ = read_events(log)
    assert events[-1].type == "run_end"
    assert not [e for e in events if e.type == "notice" and e.topic == NOTIFY_TOPIC]


def test_a_failing_notify_cmd_is_a_notice_in_the_log(tmp_path: Path, nan_script: Path) -> None:
    log = tmp_path / "run.jsonl"
    result = run_kmon(
        "train", "--quiet", "--log", str(log), "--notify-cmd", "echo webhook down >&2; exit 3",
        str(nan_script), cwd=tmp_path,
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    events, report = read_events(log)
    assert report.skipped == 0
    failures = [e.text for e in events if e.type == "notice" and e.topic == NOTIFY_TOPIC]
    assert failures == [
        "--notify-cmd failed (exit code 3) for alarm: webhook down",
        "--notify-cmd failed (exit code 3) for alarm: webhook down",
        "--notify-cmd failed (exit code 3) for alarm: webhook down",
        "--notify-cmd failed (exit code 3) for run_end: webhook down",
    ]
    assert events[-1].type == "run_end"  # the last failure is logged before it


def test_a_notify_cmd_not_found_stops_before_training(tmp_path: Path, nan_script: Path) -> None:
    result = run_kmon(
        "train", "--runs-dir", "runs", "--notify-cmd", "no-such-notifier -d x", str(nan_script),
        cwd=tmp_path,
    )  # fmt: skip

    assert result.returncode == 2
    assert result.stderr == "kmon: error: --notify-cmd: program not found: no-such-notifier\n"
    assert not (tmp_path / "runs").exists()


@pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pseudo-terminal")
@pytest.mark.parametrize("notify", [True, False], ids=["notify", "no-notify"])
def test_the_monitor_rings_and_sends_osc_to_the_terminal(
    tmp_path: Path, nan_script: Path, notify: bool
) -> None:
    pytest.importorskip("pexpect")
    pytest.importorskip("pyte")
    from pty_helpers import Terminal

    args = ["train", "--log", str(tmp_path / "run.jsonl")]
    if not notify:
        args.append("--no-notify")
    terminal = Terminal([*args, str(nan_script)], cwd=tmp_path, rows=30, cols=100)
    try:
        terminal.wait_for(
            lambda text: "finished" in text.splitlines()[0], 120, "the finished header"
        )
        terminal.pump(1.0)
        terminal.press("q")
        assert terminal.wait_for_exit() == 0
    finally:
        terminal.kill()

    raw = bytes(terminal.raw)
    # The monitor names the run as its header does: by the script's name.
    osc9 = b"\x1b]9;error in run nan_train.py: nonfinite_data: NaN/Inf in the data"
    osc777 = b"\x1b]777;notify;kmon: nonfinite_data;error in run nan_train.py: nonfinite_data: "
    end9 = b"\x1b]9;run nan_train.py finished\x07"
    end777 = b"\x1b]777;notify;kmon: run ok;run nan_train.py finished\x07"
    if notify:
        for sequence in (osc9, osc777, end9, end777):
            assert sequence in raw, sequence
        assert raw.count(b"\x1b]9;") == 4  # three alarms, the end: once each
        # The bell rings once per notification, outside any escape sequence.
        assert raw.count(b"\x07\x1b]9;") == 4
    else:
        assert b"\x1b]9;" not in raw and b"\x1b]777;" not in raw
        assert b"\x07\x1b]" not in raw
