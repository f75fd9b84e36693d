"""`kmon replay` reads other loggers' files: Keras CSVLogger and TensorBoard logs,
written here by the real Keras callbacks."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from kmon.engine.importers import UnreadableLog, load_any
from kmon.engine.state import RunState


@pytest.fixture(scope="module")
def logged_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("loggers")
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).normal(size=(200, 4)).astype("float32")
    y = x.sum(axis=1, keepdims=True)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse", metrics=["mae"])
    history = model.fit(
        x,
        y,
        epochs=3,
        batch_size=50,
        validation_split=0.2,
        verbose=0,
        callbacks=[
            keras.callbacks.CSVLogger(str(folder / "log.csv")),
            keras.callbacks.TensorBoard(str(folder / "tb"), update_freq="batch"),
        ],
    )
    return folder, history.history


def fold(events) -> RunState:
    state = RunState()
    state.apply_all(events)
    return state


def test_csv_logger_file_gives_history_per_epoch(logged_run):
    folder, history = logged_run
    events, report = load_any(folder / "log.csv")
    state = fold(events)
    assert report.skipped == 0 and state.status == "ok"
    for key in ("loss", "mae", "val_loss", "val_mae"):
        assert state.epoch_series(key) == pytest.approx(history[key], rel=1e-6)


def test_tensorboard_directory_gives_epochs_and_batches(logged_run):
    folder, history = logged_run
    events, _ = load_any(folder / "tb")
    state = fold(events)
    for key in ("loss", "mae", "val_loss", "val_mae"):
        assert state.epoch_series(key) == pytest.approx(history[key], rel=1e-6)
    assert state.fits[0].steps == 4  # 160 training samples in batches of 50
    assert state.batches == 12
    # The last batch of each epoch logged the same running mean History kept.
    assert state.batch_loss.last == pytest.approx(history["loss"][-1], rel=1e-6)


def test_a_truncated_event_file_keeps_what_was_written(logged_run, tmp_path):
    folder, history = logged_run
    (train_file,) = (folder / "tb" / "train").glob("events.out.tfevents.*")
    cut = tmp_path / "tb" / "train"
    cut.mkdir(parents=True)
    data = train_file.read_bytes()
    (cut / train_file.name).write_bytes(data[: len(data) - 20])
    events, _ = load_any(tmp_path / "tb")
    assert fold(events).epoch_series("loss")[:2] == pytest.approx(history["loss"][:2], rel=1e-6)


def test_files_that_are_neither_say_so(tmp_path):
    (tmp_path / "other.csv").write_text("a,b\n1,2\n")
    with pytest.raises(UnreadableLog, match="no 'epoch' column"):
        load_any(tmp_path / "other.csv")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UnreadableLog, match="no TensorBoard event files"):
        load_any(tmp_path / "empty")
