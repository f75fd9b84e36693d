"""The learning rate, read by the training callback on real Keras fits: at each
epoch's end (ReduceLROnPlateau's cuts show as steps) and every few seconds in
between, never on an ordinary batch."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from kmon.engine.training import callback as callback_module
from kmon.engine.training import learning_rate
from kmon.engine.training.callback import KmonCallback
from kmon.engine.view.state import RunState


def _data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 3)).astype("float32")
    return x, (x @ np.array([[1.0], [-2.0], [0.5]], dtype="float32"))


def _model(optimizer):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer=optimizer, loss="mse")
    return model


def test_reduce_lr_on_plateau_steps_show_at_epoch_ends():
    x, y = _data()
    events = []
    # min_delta larger than any gain: after the first epoch (an improvement on
    # nothing) every epoch is a plateau, the rate halved at every second one.
    plateau = keras.callbacks.ReduceLROnPlateau(
        monitor="loss", factor=0.5, patience=2, min_delta=1e9, verbose=0
    )
    model = _model(keras.optimizers.SGD(0.01))
    callbacks = [plateau, KmonCallback(events.append, 0)]
    model.fit(x, y, epochs=6, batch_size=16, verbose=0, callbacks=callbacks)
    rates = [event.learning_rate for event in events if event.type == "epoch_end"]
    # The cut made at an epoch's end is that epoch's (kmon's callback runs last).
    assert rates == pytest.approx([0.01, 0.01, 0.005, 0.005, 0.0025, 0.0025])
    assert rates[-1] == pytest.approx(float(model.optimizer.learning_rate.numpy()))
    first = [event for event in events if event.type == "learning_rate"]
    assert [event.value for event in first] == pytest.approx([0.01])  # as the fit started
    state = RunState()
    state.apply_all(events)
    assert [rate for _n, _s, rate in state.learning_rates.by_epoch] == pytest.approx(rates)
    assert state.learning_rates.current == pytest.approx(0.0025)


def test_a_schedule_is_read_every_few_seconds_at_the_current_step(monkeypatch):
    monkeypatch.setattr(learning_rate, "READ_SECONDS", 0.0)
    monkeypatch.setattr(learning_rate, "CLOCK_EVERY", 2)
    x, y = _data()
    schedule = keras.optimizers.schedules.ExponentialDecay(0.1, decay_steps=1, decay_rate=0.5)
    events = []
    _model(keras.optimizers.SGD(schedule)).fit(
        x, y, epochs=1, batch_size=8, verbose=0, callbacks=[KmonCallback(events.append, 0)]
    )
    read = [event for event in events if event.type == "learning_rate"]
    assert read[0].step is None and read[0].value == pytest.approx(0.1)
    # Every second batch, as it begins: before step s the optimizer has made s
    # steps, so the schedule gives 0.1 * 0.5 ** s.
    assert [event.step for event in read[1:]] == [1, 3, 5, 7]
    for event in read[1:]:
        assert event.value == pytest.approx(0.1 * 0.5**event.step)
    [end] = [event for event in events if event.type == "epoch_end"]
    assert end.learning_rate == pytest.approx(0.1 * 0.5**8)


def test_ordinary_batches_never_read_the_rate(monkeypatch):
    reads = []
    real = learning_rate.read_learning_rate

    def counted(model):
        reads.append(model)
        return real(model)

    monkeypatch.setattr(callback_module, "read_learning_rate", counted)
    x, y = _data()
    events = []
    _model("adam").fit(
        x, y, epochs=3, batch_size=4, verbose=0, callbacks=[KmonCallback(events.append, 0)]
    )
    # 48 batches in well under READ_SECONDS: the fit's start and each epoch's end.
    assert len(reads) == 1 + 3
    assert sum(event.type == "batch" for event in events) == 48
