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
    monkeypatch.setattr(learning_rate, "CLOCK_MOST", 2)
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


def test_the_clock_is_looked_at_about_every_half_second_at_the_batches_pace(monkeypatch):
    now = [100.0]
    monkeypatch.setattr(learning_rate.time, "monotonic", lambda: now[0])
    watch = learning_rate.LearningRateWatch()
    assert watch.countdown == learning_rate.CLOCK_EVERY  # no pace known yet
    now[0] += 0.032  # 32 batches of 1 ms
    assert not watch.due(32)
    assert watch.countdown == 500  # the next look 0.5 s later at that pace
    now[0] += 0.5
    assert not watch.due(499) and watch.countdown == 1
    assert not watch.due(1) and watch.countdown == 500  # 500 batches in 0.5 s
    now[0] += 4.5  # slower batches: 5 s since the start, a reading is due
    assert watch.due(500)
    assert watch.countdown == 55  # 500 batches in 4.5 s
    watch.changed(0.1)
    now[0] += 10.0
    assert watch.due(55) and watch.countdown == 2  # 55 batches in 10 s
    watch.changed(0.1)
    now[0] += 10.0
    assert watch.due(2) and watch.countdown == 1  # slower than 0.5 s a batch
    for _ in range(3):
        now[0] += 1e-6
        watch.due(watch.countdown)
    assert watch.countdown == learning_rate.CLOCK_MOST  # at most that many batches apart
