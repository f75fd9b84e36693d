"""The epoch chart's axes without drawing: positions from the run's own events,
refused (with the reason) where a log lacks them; ticks and the cursor's reading."""

from __future__ import annotations

import time

from kmon.engine.view.epoch_axes import (
    cursor_reading,
    nearest_epoch,
    nice_ticks,
    x_positions,
    x_ticks,
)
from kmon.engine.view.run_records import EpochRecord


def record(number: int, steps: int, ended: float | None, **logs: float) -> EpochRecord:
    return EpochRecord(0, number - 1, number, logs, None, steps, ended=ended)


HISTORY = [
    record(1, 10, 1010.0, loss=0.9),
    record(2, 10, 1030.0, loss=0.5),
    record(3, 4, 1090.0, loss=0.4),
]


def test_positions_of_each_axis():
    assert x_positions(HISTORY, "epoch", 1000.0) == ([1.0, 2.0, 3.0], "")
    assert x_positions(HISTORY, "step", 1000.0) == ([10.0, 20.0, 24.0], "")
    assert x_positions(HISTORY, "wall time", None) == ([1010.0, 1030.0, 1090.0], "")
    assert x_positions(HISTORY, "time since start", 1000.0) == ([10.0, 30.0, 90.0], "")


def test_what_a_log_lacks_is_refused_not_guessed():
    assert x_positions(HISTORY, "time since start", None) == (None, "no run start in this log")
    no_batches = [record(1, 0, 5.0), record(2, 0, 6.0)]
    assert x_positions(no_batches, "step", 0.0) == (None, "no batches in this log")
    one_time = [record(1, 0, 5.0), record(2, 0, 5.0)]  # a CSVLogger import
    assert x_positions(one_time, "wall time", 5.0) == (None, "no epoch timings in this log")
    unknown = [record(1, 3, None)]
    assert x_positions(unknown, "wall time", 0.0) == (None, "no epoch end times in this log")


def test_ticks_are_round_and_labelled_in_the_axis_units():
    assert nice_ticks(0, 24) == [0, 5, 10, 15, 20]
    assert nice_ticks(3.21, 3.83) == [3.4, 3.6, 3.8]
    assert nice_ticks(1.7e9 + 0.1, 1.7e9 + 0.9) == [1.7e9 + k / 5 for k in range(1, 5)]
    assert x_ticks([1.0, 2.0, 3.0], "epoch") == ([1.0, 2.0, 3.0], ["1", "2", "3"])
    positions, labels = x_ticks([1000.0, 25000.0], "step")
    assert labels[positions.index(10000.0)] == "10,000"
    positions, labels = x_ticks([10.0, 90.0], "time since start")
    assert labels[positions.index(20.0)] == "20s"
    positions, labels = x_ticks([10.0, 4000.0], "time since start")
    assert labels[positions.index(2000.0)] == "33:20"
    positions, labels = x_ticks([1010.0, 1090.0], "wall time")
    assert labels[positions.index(1020.0)] == time.strftime("%H:%M:%S", time.localtime(1020.0))


def test_the_cursor_reads_the_logged_values():
    last = record(3, 4, 1090.0, loss=0.4, accuracy=0.83, val_loss=0.455)
    assert cursor_reading(last, "epoch", None) == (
        "epoch 3 · loss 0.4000 · accuracy 0.8300 · val_loss 0.4550"
    )
    assert cursor_reading(last, "step", 24.0, lambda key: "loss" in key) == (
        "epoch 3 (step 24) · loss 0.4000 · val_loss 0.4550"
    )
    assert cursor_reading(last, "time since start", 90.0).startswith("epoch 3 (90.0s in) · ")
    assert nearest_epoch([10.0, 30.0, 90.0], 55.0) == 1
