"""`kmon replay` reads other loggers' files: Keras CSVLogger and TensorBoard logs,
written here by the real Keras callbacks."""

from __future__ import annotations

import re
import shutil

import keras
import numpy as np
import pytest

from kmon.engine.log.importers import UnreadableLog, load_any
from kmon.engine.view.state import RunState


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
    events, report = load_any(tmp_path / "tb")
    assert fold(events).epoch_series("loss")[:2] == pytest.approx(history["loss"][:2], rel=1e-6)
    # Never reported as clean: the last record is cut (a run still writing, or damage).
    (damage,) = report.damaged
    assert damage.startswith(f"train/{train_file.name}: a truncated record at byte ")
    assert not report.clean


def test_a_corrupt_event_file_is_read_up_to_the_damage_and_says_what_was_skipped(
    logged_run, tmp_path
):
    folder, history = logged_run
    (train_file,) = (folder / "tb" / "train").glob("events.out.tfevents.*")
    damaged = tmp_path / "tb"
    shutil.copytree(folder / "tb", damaged)
    data = bytearray(train_file.read_bytes())
    data[len(data) // 2] ^= 0xFF
    (damaged / "train" / train_file.name).write_bytes(bytes(data))
    events, report = load_any(damaged)
    (damage,) = report.damaged
    assert re.fullmatch(
        rf"train/{re.escape(train_file.name)}: a corrupted record at byte \d+ after \d+ "
        r"record\(s\): the rest of that file was skipped",
        damage,
    )
    assert not report.clean and report.summary() == damage
    # Said in the replay too, where the monitor and the headless summary show it.
    assert [e.text for e in events if e.type == "notice" and e.level == "warning"] == [damage]
    # What came before the damage, and the intact validation file, are all there.
    state = fold(events)
    assert state.epoch_series("val_loss") == pytest.approx(history["val_loss"], rel=1e-6)


def test_csv_rows_that_are_not_utf8_are_skipped_and_counted(logged_run, tmp_path):
    folder, history = logged_run
    lines = (folder / "log.csv").read_bytes().split(b"\n")
    lines[2] = lines[2][:4] + b"\xff\xfe" + lines[2][4:]  # epoch 1's row
    (tmp_path / "log.csv").write_bytes(b"\n".join(lines))
    events, report = load_any(tmp_path / "log.csv")
    assert report.garbage_lines == 1 and report.examples == ["line 3: not UTF-8 text"]
    state = fold(events)
    assert [record.epoch for record in state.history] == [0, 2]
    assert state.epoch_series("loss") == pytest.approx(history["loss"][::2], rel=1e-6)


def test_a_csv_header_that_is_not_utf8_is_refused_in_one_line(tmp_path):
    (tmp_path / "log.csv").write_bytes(b"epoch,lo\xffss\n0,1.0\n")
    with pytest.raises(UnreadableLog, match=r"^not UTF-8 text at byte 8, in the header row"):
        load_any(tmp_path / "log.csv")


def test_csv_rows_without_an_epoch_number_are_counted(tmp_path):
    (tmp_path / "log.csv").write_text("epoch,loss\n0,1.0\n1e400,2.0\nnan,3\n1,0.5\n")
    events, report = load_any(tmp_path / "log.csv")
    assert [record.epoch for record in fold(events).history] == [0, 1]
    assert report.garbage_lines == 2
    assert report.examples[0] == "line 3: epoch is '1e400', not an epoch number"


def test_files_that_are_neither_say_so(tmp_path):
    (tmp_path / "other.csv").write_text("a,b\n1,2\n")
    with pytest.raises(UnreadableLog, match="no 'epoch' column"):
        load_any(tmp_path / "other.csv")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UnreadableLog, match="no TensorBoard event files"):
        load_any(tmp_path / "empty")
