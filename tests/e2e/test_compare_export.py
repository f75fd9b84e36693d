"""`kmon compare` and `kmon export` on a real tiny Keras run, as commands.

One script trains a small model twice under ``kmon train --log`` and also writes a
Keras CSVLogger file: export's CSV and JSON are read back with the csv and json
modules (no pandas) and must hold exactly the values the event log holds; compare
prints the runs' table and refuses bad inputs one line each."""

from __future__ import annotations

import csv
import io
import json
import math
import re

import pytest
from kmon_process import run_kmon

from kmon.engine.log.eventlog import read_events

pytestmark = pytest.mark.e2e

SCRIPT = """\
import keras
import numpy as np

keras.utils.set_random_seed(0)
x = np.random.default_rng(0).normal(size=(96, 4)).astype("float32")
y = (x.sum(axis=1) > 0).astype("float32")
model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"),
                          keras.layers.Dense(1, activation="sigmoid")])
model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
model.fit(x, y, batch_size=16, epochs=3, validation_split=0.25,
          callbacks=[keras.callbacks.CSVLogger("history.csv"), keras.callbacks.TensorBoard("tb")])
model.fit(x, y, batch_size=32, epochs=2)
"""


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    cwd = tmp_path_factory.mktemp("compare-export")
    (cwd / "train.py").write_text(SCRIPT, encoding="utf-8")
    result = run_kmon("train", "--log", "run.jsonl", "train.py", cwd=cwd, timeout=240)
    assert result.returncode == 0, result.stderr
    return cwd


def test_export_csv_round_trips_every_epoch_value(run):
    result = run_kmon("export", "run.jsonl", "--csv", cwd=run)
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    events, _ = read_events(run / "run.jsonl")
    ends = [event for event in events if event.type == "epoch_end"]
    assert len(rows) == len(ends) == 5
    assert [(int(row["fit"]), int(row["epoch"])) for row in rows] == [
        (0, 0), (0, 1), (0, 2), (1, 0), (1, 1)
    ]
    for row, end in zip(rows, ends):
        assert float(row["t"]) == end.t
        for key, value in end.logs.items():
            assert float(row[key]) == value  # repr round-trips a float exactly
        # The second fit had no validation: its val_ cells are blank.
        assert (row["val_loss"] == "") == ("val_loss" not in end.logs)


def test_export_json_batches_round_trip_logs_and_recovered_values(run):
    result = run_kmon("export", "run.jsonl", "--json", "--batches", "-o", "b.json", cwd=run)
    assert result.returncode == 0 and result.stdout == "", result.stderr
    rows = json.loads((run / "b.json").read_text(encoding="utf-8"))
    events, _ = read_events(run / "run.jsonl")
    batches = [event for event in events if event.type == "batch"]
    assert len(rows) == len(batches) == 3 * 5 + 2 * 3
    for row, batch in zip(rows, batches):
        assert (row["fit"], row["epoch"], row["step"], row["size"]) == (
            batch.fit, batch.epoch, batch.step, batch.size
        )
        for key, value in batch.logs.items():
            assert row[f"logs.{key}"] == value
        for key in ("loss", "accuracy"):
            recovered = (batch.values or {}).get(key)
            assert row[f"values.{key}"] == recovered
    # Keras's running mean of a first batch is that batch's own loss.
    first = rows[0]
    assert first["values.loss"] is not None
    assert math.isclose(first["values.loss"], first["logs.loss"], rel_tol=1e-6)


def test_compare_prints_the_table_and_goes_on_past_bad_inputs(run):
    (run / "notes.txt").write_text("not a run\n", encoding="utf-8")
    result = run_kmon(
        "compare", "run.jsonl", "history.csv", "notes.txt", "missing.jsonl", cwd=run
    )
    assert result.returncode == 0, result.stderr
    problems = result.stderr.strip().splitlines()
    assert len(problems) == 2
    assert problems[0].startswith("kmon: notes.txt: ")
    assert problems[1].startswith("kmon: missing.jsonl: no such file or folder")
    lines = result.stdout.splitlines()
    assert lines[0].split()[:5] == ["run", "source", "epochs", "duration", "alarms"]
    assert lines[1].startswith("1 train.py") and " kmon log " in lines[1]
    assert lines[2].startswith("2 history.csv") and " CSVLogger " in lines[2]
    # The CSVLogger file holds the first fit's 3 epochs, the log both fits' 5.
    cells = [re.split(r"\s{2,}", line) for line in lines[1:3]]
    assert cells[0][2] == "5" and cells[1][2] == "3"
    assert cells[1][3] == "—"  # a CSVLogger file has no times
    assert "fit 0: 3 epochs, 5 steps, batch 16, 72 samples" in result.stdout
    assert "shared metrics: loss, accuracy, val_loss, val_accuracy" in result.stdout


def test_compare_of_a_tensorboard_folder_leaves_no_tensorflow_lines_on_the_terminal(run):
    # TensorFlow 2.21 prints its C++ start-up lines (absl, oneDNN, cuInit) whatever
    # TF_CPP_MIN_LOG_LEVEL says; reading the event files starts it in kmon's process.
    result = run_kmon("compare", "--headless", "run.jsonl", "tb", cwd=run)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    assert lines[2].startswith("2 tb") and " TensorBoard " in lines[2]
    cells = [re.split(r"\s{2,}", line) for line in lines[1:3]]
    assert cells[1][2] == "3"  # the first fit's epochs, read from train/ and validation/


def test_compare_with_no_run_left_or_too_many_runs_exits_2(run):
    result = run_kmon("compare", "missing.jsonl", cwd=run)
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == "kmon: error: no runs to compare"
    result = run_kmon("compare", *["run.jsonl"] * 9, cwd=run)
    assert result.returncode == 2 and "at most 8 runs" in result.stderr
