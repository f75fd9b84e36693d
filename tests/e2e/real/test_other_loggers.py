"""A script that keeps Keras's own CSVLogger and TensorBoard callbacks, run under
the real ``kmon train --headless``: ``kmon compare`` of kmon's log, the CSV file and
the TensorBoard folder shows the same epochs and the same final and best values
from all three, and reading the TensorBoard folder leaves no TensorFlow start-up
lines on the terminal (found by hand: absl's, oneDNN's and "failed call to cuInit"
came before the table)."""

from __future__ import annotations

import re

import pytest
from kmon_process import run_kmon

from kmon.engine.format import format_value


@pytest.fixture(scope="module")
def churn(real_run):
    return real_run.clean("churn_loggers.py")


def test_kmons_log_the_csv_file_and_tensorboard_tell_the_same_epochs(churn):
    assert re.search(r"^test churn accuracy: 0\.\d+$", churn.stdout, re.MULTILINE)
    result = run_kmon("compare", "--headless", "run.jsonl", "history.csv", "tb", cwd=churn.folder)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    header = re.split(r"\s{2,}", lines[0])
    rows = [dict(zip(header, re.split(r"\s{2,}", line))) for line in lines[1:4]]
    assert [row["source"] for row in rows] == ["kmon log", "CSVLogger", "TensorBoard"]
    assert {row["epochs"] for row in rows} == {"5"}
    compared = [name for name in header if name.startswith(("final ", "best "))]
    # Both heads' losses and metrics, validation's too, and the learning rate's
    # reductions by ReduceLROnPlateau where the source logs it.
    for key in ("loss", "churn_loss", "spend_mae", "val_churn_auc", "val_spend_loss"):
        assert f"final {key}" in compared and f"best {key}" in compared
    for name in compared:
        assert rows[0][name] == rows[1][name] == rows[2][name], (name, rows)
    history = [e for e in churn.events if e.type == "epoch_end"]
    assert len(history) == 5
    assert rows[0]["final loss"] == format_value(history[-1].logs["loss"])
