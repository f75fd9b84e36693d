"""A fit that BackupAndRestore resumes says where it resumed: its ``fit_start``
carries the epoch Keras starts from, and its epochs match the CSV the script
keeps across restarts.

Found by a user-style trial (2026-12-05): kmon logged the ``initial_epoch``
passed to ``fit()`` (0), while Keras resumed at the fourth epoch; and the epoch
whose end the preemption (a callback of the script's, raising) cut short had no
``epoch_end``, though it had ended and the CSV had it.
"""

from __future__ import annotations

import csv

import pytest
from kmon_process import run_kmon
from locations import REAL

from kmon.engine.log.eventlog import read_events

SCRIPT = str(REAL / "resumes_after_preemption.py")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The preempted run, then the resumed one, under kmon in one folder."""
    folder = tmp_path_factory.mktemp("preempted")
    first = run_kmon(
        "train", "--headless", "--log", "first.jsonl", SCRIPT, "--preempt", cwd=folder, timeout=180
    )
    second = run_kmon(
        "train", "--headless", "--log", "second.jsonl", SCRIPT, cwd=folder, timeout=180
    )
    with open(folder / "epochs.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return folder, first, second, rows


def _events(path, kind):
    events, report = read_events(path)
    assert not report.skipped
    return [event for event in events if event.type == kind]


def test_the_preempted_run_fails_as_under_python(runs):
    _, first, second, rows = runs
    assert first.returncode == 1, first.stderr[-3000:]
    assert "preempted" in first.stderr
    assert second.returncode == 0, second.stderr[-3000:]
    assert "trained epochs [3, 4, 5]" in second.stdout
    assert [row["epoch"] for row in rows] == ["0", "1", "2", "3", "4", "5"]


def test_the_resumed_fit_starts_where_keras_resumed_it(runs):
    folder, _, _, _ = runs
    [fit] = _events(folder / "second.jsonl", "fit_start")
    assert fit.initial_epoch == 3
    assert fit.epochs == 6
    assert [event.epoch for event in _events(folder / "second.jsonl", "epoch_start")] == [3, 4, 5]


def test_the_epoch_the_preemption_ended_is_logged(runs):
    # The script's callback raised in on_epoch_end before kmon's (Keras calls
    # kmon's last): the epoch ended all the same, and the CSV has it.
    folder, _, _, _ = runs
    assert [event.epoch for event in _events(folder / "first.jsonl", "epoch_end")] == [0, 1, 2]


def test_each_logged_epoch_matches_the_scripts_csv(runs):
    folder, _, _, rows = runs
    ends = [
        *_events(folder / "first.jsonl", "epoch_end"),
        *_events(folder / "second.jsonl", "epoch_end"),
    ]
    assert [event.epoch for event in ends] == [0, 1, 2, 3, 4, 5]
    for event in ends:
        row = rows[event.epoch]
        for key in ("loss", "mae", "val_loss", "val_mae"):
            assert event.logs[key] == pytest.approx(float(row[key]), rel=1e-6), (event.epoch, key)


def test_the_headless_lines_count_the_resumed_epochs(runs):
    _, _, second, _ = runs
    assert "[kmon] fit 0: 3 epochs × 6 steps" in second.stdout, second.stdout
    assert "[kmon] epoch 4/6" in second.stdout, second.stdout
