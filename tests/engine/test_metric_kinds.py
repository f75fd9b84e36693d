"""The first dispatch's classification reads a tracker's count (a device read on the
training thread) only where a count is compared with the loss tracker's."""

from __future__ import annotations

import keras
import numpy as np

from kmon.engine.events import MEAN
from kmon.engine.training import metric_kinds
from kmon.engine.training.metric_kinds import FirstDispatch, classify_log_keys


def _classified(model, y, monkeypatch):
    x = np.random.default_rng(0).normal(size=(16, 4)).astype("float32")
    model.fit(x, y(x), batch_size=8, epochs=1, steps_per_epoch=1, verbose=0)
    read, local_count = [], metric_kinds._local_count

    def counted(metric):
        read.append(metric.name)
        return local_count(metric)

    monkeypatch.setattr(metric_kinds, "_local_count", counted)
    return classify_log_keys(model, first=FirstDispatch(8, 1)), read


def test_one_output_under_keras_own_train_step_reads_no_count(monkeypatch):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    kinds, read = _classified(model, lambda x: x[:, :1], monkeypatch)
    assert kinds["loss"].kind == MEAN and kinds["mae"].kind == MEAN
    assert read == []


def test_two_outputs_read_the_loss_trackers_count_to_compare_theirs(monkeypatch):
    inputs = keras.Input((4,))
    outputs = [keras.layers.Dense(1, name="a")(inputs), keras.layers.Dense(1, name="b")(inputs)]
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="sgd", loss=["mse", "mse"])
    kinds, read = _classified(model, lambda x: [x[:, :1], x[:, 1:2]], monkeypatch)
    assert "loss" in read  # the total loss tracker's count, once, for the heads'
    assert read.count("loss") == 1
    assert {key: kind.recoverable for key, kind in kinds.items()} == {
        "loss": True,
        "a_loss": True,
        "b_loss": True,
    }
