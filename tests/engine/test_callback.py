"""KmonCallback and FitHook on real (tiny) Keras models."""

from __future__ import annotations

import threading
import time

import keras
import numpy as np
import pytest
import tensorflow as tf

from kmon.engine.events import (
    Alarm,
    Batch,
    EpochEnd,
    FitEnd,
    FitStart,
    Notice,
    ValEnd,
    ValueKinds,
)
from kmon.engine.run.fit_hook import FitHook
from kmon.engine.stop import StopSignal
from kmon.engine.training.callback import KmonCallback


def _data(samples=100, features=4, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(samples, features)).astype("float32")
    y = (x @ np.arange(1, features + 1, dtype="float32"))[:, None]
    return x, y


def _sequential():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)], name="tiny")
    model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    return model


def _two_outputs():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((4,))
    hidden = keras.layers.Dense(3)(inputs)
    first = keras.layers.Dense(1, name="score")(hidden)
    second = keras.layers.Dense(2, name="extra")(hidden)
    model = keras.Model(inputs, [first, second], name="two_heads")
    model.compile(optimizer="sgd", loss=["mse", "mse"])
    return model


def _types(events):
    """Event types, without the per-fit descriptions ``value_kinds``, ``probes``
    (what the probes check: see tests/engine/test_probes.py), ``baselines``
    (tests/engine/test_baselines.py) and ``learning_rate``
    (tests/engine/test_learning_rate.py)."""
    skipped = ("value_kinds", "probes", "baselines", "learning_rate")
    return [e.type for e in events if e.type not in skipped]


@pytest.fixture
def hooked():
    """An installed FitHook collecting events; uninstalled afterwards."""
    events = []
    stop = StopSignal()
    hook = FitHook(events.append, stop)
    hook.install()
    try:
        yield hook, events, stop
    finally:
        hook.uninstall()


def test_callback_streams_a_fit():
    model = _sequential()
    x, y = _data()
    events = []
    callback = KmonCallback(events.append, fit_index=0, samples=80, batch_size=32)
    assert callback.async_safe is True
    model.fit(x, y, batch_size=32, epochs=2, validation_split=0.2, callbacks=[callback], verbose=0)

    per_epoch = ["epoch_start", "batch", "batch", "batch", "val_end", "epoch_end"]
    assert _types(events) == ["fit_start", *per_epoch, *per_epoch, "fit_end"]
    # How each training log key is recovered: described once per fit, just before
    # the first batch, every key the batches log included.
    types = [e.type for e in events]
    assert types.count("value_kinds") == 1
    assert types.index("value_kinds") == types.index("batch") - 1
    (kinds,) = [e for e in events if isinstance(e, ValueKinds)]
    assert set(kinds.kinds) == {"loss", "mae"}
    start = events[0]
    assert isinstance(start, FitStart)
    assert (start.fit, start.epochs, start.steps) == (0, 2, 3)
    assert (start.samples, start.batch_size, start.initial_epoch) == (80, 32, 0)
    assert start.model == "tiny"
    assert start.steps_per_execution == 1

    batches = [e for e in events if isinstance(e, Batch)]
    assert [(b.epoch, b.step) for b in batches] == [(e, s) for e in range(2) for s in range(3)]
    assert [b.size for b in batches] == [32, 32, 16] * 2
    assert all(b.fit == 0 for b in batches)

    history = model.history.history
    ends = [e for e in events if isinstance(e, EpochEnd)]
    assert [e.epoch for e in ends] == [0, 1]
    for end in ends:
        assert set(end.logs) == set(history)
        for key, values in history.items():
            assert end.logs[key] == pytest.approx(values[end.epoch], rel=1e-6)
        # Batch logs are running means: the last batch's equal the epoch's.
        last = [b for b in batches if b.epoch == end.epoch][-1]
        train_keys = {k for k in end.logs if not k.startswith("val_")}
        assert set(last.logs) == train_keys
        for key in train_keys:
            assert last.logs[key] == pytest.approx(end.logs[key], rel=1e-6)
        assert all(isinstance(v, float) for v in last.logs.values())

    vals = [e for e in events if isinstance(e, ValEnd)]
    for val, end in zip(vals, ends, strict=True):
        assert val.epoch == end.epoch
        assert val.logs["loss"] == pytest.approx(end.logs["val_loss"], rel=1e-6)

    assert isinstance(events[-1], FitEnd) and events[-1].stopped_early is False
    # Event times never go backwards.
    times = [e.t for e in events]
    assert times == sorted(times)


def test_callback_stop_signal_stops_after_the_current_batch():
    model = _sequential()
    x, y = _data()
    events = []
    stop = StopSignal()

    class StopAtSecondBatch(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 1:
                stop.request()

    callback = KmonCallback(events.append, 0, stop=stop, samples=100, batch_size=10)
    model.fit(x, y, batch_size=10, epochs=3, callbacks=[StopAtSecondBatch(), callback], verbose=0)
    assert [(e.epoch, e.step) for e in events if isinstance(e, Batch)] == [(0, 0), (0, 1)]
    assert isinstance(events[-1], FitEnd) and events[-1].stopped_early
    assert len(model.history.history["loss"]) == 1


def test_a_stop_request_stops_the_running_fit_itself_and_no_fit_after_it():
    # The request sets model.stop_training on the requesting thread (as the monitor's
    # quit does), so kmon's batch ends need not read the flag at every step.
    model = _sequential()
    x, y = _data()
    stop, seen = StopSignal(), []

    def request_from_another_thread():
        thread = threading.Thread(target=stop.request)
        thread.start()
        thread.join()

    class RequestStop(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            if batch == 2:
                request_from_another_thread()
                seen.append(self.model.stop_training)  # before any kmon hook ran

    events = []
    callback = KmonCallback(events.append, 0, stop=stop, samples=100, batch_size=10)
    model.fit(x, y, batch_size=10, epochs=3, callbacks=[RequestStop(), callback], verbose=0)
    assert seen == [True]
    assert [(e.epoch, e.step) for e in events if isinstance(e, Batch)] == [(0, 0), (0, 1), (0, 2)]
    assert isinstance(events[-1], FitEnd) and events[-1].stopped_early

    # A fit that began after the request stops after its first batch, as before; once
    # it has ended, a request no longer touches its model.
    later, again = _sequential(), StopSignal()
    fit_events = []
    later.fit(x, y, batch_size=10, epochs=1, verbose=0,
              callbacks=[KmonCallback(fit_events.append, 0, stop=again)])
    again.request()
    assert later.stop_training is False
    model.stop_training = False
    model.fit(x, y, batch_size=10, epochs=2, verbose=0,
              callbacks=[KmonCallback(fit_events.append, 1, stop=stop)])
    assert [e.step for e in fit_events if isinstance(e, Batch) and e.fit == 1] == [0]


def test_fit_hook_injects_the_callback_and_numbers_fits(hooked, capfd):
    hook, events, _ = hooked
    model = _two_outputs()
    x, _ = _data(40)
    y = [x[:, :1], x[:, 1:3]]
    model.fit(x, y, batch_size=16, epochs=1, verbose=1)
    model.fit(x, y, epochs=2, initial_epoch=1)  # default batch size, verbose "auto"

    starts = [e for e in events if isinstance(e, FitStart)]
    assert [s.fit for s in starts] == [0, 1]
    assert starts[0].outputs == ["score", "extra"]
    assert starts[0].model == "two_heads"
    assert (starts[0].steps, starts[0].samples, starts[0].batch_size) == (3, 40, 16)
    assert (starts[1].steps, starts[1].samples, starts[1].batch_size) == (2, 40, 32)
    assert starts[1].initial_epoch == 1
    assert [e.size for e in events if isinstance(e, Batch) and e.fit == 0] == [16, 16, 8]
    assert [(e.fit, e.epoch) for e in events if isinstance(e, EpochEnd)] == [(0, 0), (1, 1)]
    assert [e.fit for e in events if isinstance(e, FitEnd)] == [0, 1]
    assert hook.fits == 2
    # verbose was forced to 0: Keras printed no progress bar.
    out, err = capfd.readouterr()
    assert "step" not in out and "loss" not in out
    assert "━" not in out + err


def test_fit_hook_numbers_the_models_it_trains(hooked):
    hook, events, _ = hooked
    x, y = _data(16)
    first = _sequential()
    first.fit(x, y, epochs=1)
    first.fit(x, y, epochs=1)  # a loop of fits: the same model trains on
    second = _sequential()
    second.fit(x, y, epochs=1)
    first.fit(x, y, epochs=1)
    starts = [e for e in events if isinstance(e, FitStart)]
    assert [s.model_index for s in starts] == [0, 0, 1, 0]


def test_fit_hook_ends_a_models_alarms_when_another_model_trains(hooked):
    hook, events, _ = hooked
    x, y = _data(16)
    first = _sequential()
    first.fit(x, y, epochs=1)
    # (A gradient probe needs seconds of training: none runs in these fits.)
    hook.alarms.raise_("exploding_gradients", "grew 100x", {}, fit=0)
    first.fit(x, y, epochs=1)  # the same model trains on: its alarm holds
    assert hook.alarms.is_active("exploding_gradients")
    second = _sequential()
    second.fit(x, y, epochs=1)
    assert not hook.alarms.is_active("exploding_gradients")
    alarms = [e for e in events if isinstance(e, Alarm)]
    assert [(a.state, a.fit) for a in alarms] == [("raised", 0), ("ended", 1)]
    assert alarms[1].message == "fit 2 trains another model (tiny)"
    # Before the new model's fit starts (its own data checks come after).
    index = events.index(alarms[1])
    assert isinstance(events[index - 1], FitEnd) and events[index - 1].fit == 1
    assert isinstance(events[index + 1], FitStart) and events[index + 1].fit == 2


def test_fit_hook_keeps_user_callbacks_and_arguments(hooked):
    hook, events, _ = hooked
    model = _sequential()
    x, y = _data(30)
    seen = []

    class Mine(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append(epoch)

    history = model.fit(x, y, 10, 2, 0, [Mine()])  # positional arguments
    assert seen == [0, 1]
    assert len(history.history["loss"]) == 2
    start = events[0]
    assert (start.samples, start.batch_size, start.epochs, start.steps) == (30, 10, 2, 3)
    # A tuple of callbacks, and validation_split reduces the training samples.
    model.fit(x, y, batch_size=8, validation_split=0.5, callbacks=(Mine(),))
    start = [e for e in events if isinstance(e, FitStart)][1]
    assert (start.samples, start.batch_size, start.steps) == (15, 8, 2)


@pytest.mark.filterwarnings("ignore:`shuffle=True` was passed")
@pytest.mark.filterwarnings("ignore:Your input ran out of data")
def test_fit_hook_unknown_cardinality_dataset(hooked):
    _, events, _ = hooked
    model = _sequential()
    x, y = _data(40)

    def generate():  # 35 samples in batches of 10, 10, 10 and 5
        for i in range(0, 35, 10):
            yield x[i : min(i + 10, 35)], y[i : min(i + 10, 35)]

    signature = (
        tf.TensorSpec((None, 4), tf.float32),
        tf.TensorSpec((None, 1), tf.float32),
    )
    dataset = tf.data.Dataset.from_generator(generate, output_signature=signature)
    assert dataset.cardinality() == tf.data.UNKNOWN_CARDINALITY
    model.fit(dataset, epochs=2)
    start = events[0]
    assert isinstance(start, FitStart)
    assert start.steps is None
    assert start.batch_size is None and start.samples is None
    batches = [e for e in events if isinstance(e, Batch)]
    assert [(b.epoch, b.step) for b in batches] == [(e, s) for e in range(2) for s in range(4)]
    # Sizes the dataset decides are read from the loss tracker's sample count.
    assert [b.size for b in batches] == [10, 10, 10, 5] * 2
    assert _types(events)[-1] == "fit_end"


def test_fit_hook_stop_request_stops_training_and_skips_later_fits(hooked):
    hook, events, stop = hooked
    model = _sequential()
    x, y = _data(100)

    class RequestStop(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            if batch == 2:
                stop.request()  # as a monitor thread would, mid-batch

    model.fit(x, y, batch_size=10, epochs=5, callbacks=[RequestStop()])
    batches = [e for e in events if isinstance(e, Batch)]
    assert [(b.epoch, b.step) for b in batches] == [(0, 0), (0, 1), (0, 2)]
    assert events[-1] == FitEnd(fit=0, stopped_early=True, t=events[-1].t)

    count = len(events)
    history = model.fit(x, y, epochs=1)
    assert history is model.history
    assert len(events) == count + 1
    notice = events[-1]
    assert isinstance(notice, Notice) and notice.level == "warning"
    assert "skipped" in notice.text
    assert hook.fits == 1


def test_uninstall_restores_keras_model_fit():
    before_in_dict = "fit" in keras.Model.__dict__
    before = keras.Model.__dict__.get("fit")
    original = keras.Model.fit
    hook = FitHook(lambda event: None, StopSignal())
    hook.uninstall()  # not installed: no-op
    assert keras.Model.fit is original
    hook.install()
    assert keras.Model.fit is not original
    assert keras.Model.fit.__wrapped__ is original
    assert keras.Sequential.fit is keras.Model.fit
    hook.uninstall()
    hook.uninstall()
    assert keras.Model.fit is original
    assert ("fit" in keras.Model.__dict__) == before_in_dict
    assert keras.Model.__dict__.get("fit") is before


def test_quiet_keras_false_keeps_verbose(capfd):
    events = []
    hook = FitHook(events.append, StopSignal(), quiet_keras=False)
    hook.install()
    try:
        model = _sequential()
        x, y = _data(20)
        model.fit(x, y, epochs=1, verbose=2)
    finally:
        hook.uninstall()
    out, _ = capfd.readouterr()
    assert "loss" in out
    assert _types(events)[0] == "fit_start"


def test_batch_sizes_with_steps_per_execution(hooked):
    _, events, _ = hooked
    model = _sequential()
    model.compile(optimizer="sgd", loss="mse", steps_per_execution=2)
    x, y = _data(100)
    model.fit(x, y, batch_size=32, epochs=1)
    assert events[0].steps_per_execution == 2
    assert events[0].steps == 4
    # One batch event per dispatch of two steps: 64 samples, then the last 36.
    assert [(e.step, e.size) for e in events if isinstance(e, Batch)] == [(1, 64), (3, 36)]


def test_fit_hook_accepts_a_single_callback(hooked):
    _, events, _ = hooked
    model = _sequential()
    x, y = _data(20)
    seen = []
    model.fit(
        x,
        y,
        batch_size=10,
        callbacks=keras.callbacks.LambdaCallback(
            on_epoch_end=lambda epoch, logs: seen.append(epoch)
        ),
    )
    assert seen == [0]
    assert _types(events) == ["fit_start", "epoch_start", "batch", "batch", "epoch_end", "fit_end"]


def test_fit_hook_with_a_reused_callback_list(hooked):
    _, events, stop = hooked
    model = _sequential()
    x, y = _data(20)
    callbacks = keras.callbacks.CallbackList(
        [keras.callbacks.History()], model=model, epochs=2, steps=2, verbose=0
    )
    model.fit(x, y, batch_size=10, epochs=2, callbacks=callbacks)
    model.fit(x, y, batch_size=10, epochs=2, callbacks=callbacks)
    starts = [e for e in events if isinstance(e, FitStart)]
    assert [(s.fit, s.steps, s.epochs, s.model) for s in starts] == [
        (0, 2, 2, "tiny"),
        (1, 2, 2, "tiny"),
    ]
    # The second fit's events come from its own callback only, once each.
    second = events[events.index(starts[1]) :]
    assert _types(second) == [
        "fit_start",
        *(["epoch_start", "batch", "batch", "epoch_end"] * 2),
        "fit_end",
    ]
    assert all(e.fit == 1 for e in second if hasattr(e, "fit"))

    # A stop request works through a ready-made list too.
    class RequestStop(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            stop.request()

    callbacks.callbacks.insert(0, RequestStop())
    events.clear()
    model.fit(x, y, batch_size=10, epochs=2, callbacks=callbacks)
    assert [e.step for e in events if isinstance(e, Batch)] == [0]
    assert events[-1].type == "fit_end" and events[-1].stopped_early


def test_batch_end_off_the_training_thread_never_reads_callback_model(monkeypatch):
    # On JAX, Callback.model syncs the training state into the variables; from a
    # worker thread (Keras's asynchronous batch-end dispatch) that races the next
    # step, which donates those buffers. Batch-end hooks must use what the training
    # thread kept, and read the model only there.
    model = _sequential()
    x, y = _data(64)
    model.fit(x, y, batch_size=32, epochs=1, verbose=0)  # builds the compiled metrics
    readers = []
    plain = keras.callbacks.Callback.model

    def recording(callback):
        readers.append(threading.current_thread())
        return plain.fget(callback)

    monkeypatch.setattr(keras.callbacks.Callback, "model", property(recording, plain.fset))
    events, stop = [], StopSignal()
    callback = KmonCallback(events.append, 0, stop=stop, samples=64, batch_size=32)
    callback.set_model(model)
    callback.set_params({"epochs": 1, "steps": 2})
    callback.on_train_begin()
    callback.on_epoch_begin(0)
    stop.request()

    def worker():
        callback.on_train_batch_end(0, {"loss": 2.0, "mae": 1.0})
        callback.on_train_batch_end(1, {"loss": 1.5, "mae": 0.8})

    readers.clear()
    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    assert readers == []
    assert model.stop_training
    assert [e.type for e in events if e.type == "batch"] == []  # waiting for the kinds

    callback.on_epoch_end(0, {"loss": 1.5, "mae": 0.8})  # the training thread
    assert set(readers) == {threading.current_thread()}
    batches = [e for e in events if e.type == "batch"]
    assert [b.step for b in batches] == [0, 1]
    assert batches[1].values["loss"] == pytest.approx(1.0)


def test_batch_ends_on_the_tape_come_out_in_order_with_their_own_times():
    # 80 batches an epoch: past the tape's 32, so most events leave it in passes;
    # every one is out before its epoch's end, in step order, timed at its batch.
    model = _sequential()
    x, y = _data(800)
    events = []
    ends = {}

    class Clock(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            ends[batch] = time.time()

    model.fit(
        x,
        y,
        batch_size=10,
        epochs=2,
        verbose=0,
        callbacks=[KmonCallback(events.append, 0, samples=800, batch_size=10), Clock()],
    )
    types = [e.type for e in events]
    first_end = types.index("epoch_end")
    batches = [e for e in events if e.type == "batch"]
    assert [b.step for b in events[:first_end] if b.type == "batch"] == list(range(80))
    assert [(b.epoch, b.step) for b in batches] == [(e, s) for e in range(2) for s in range(80)]
    assert all(b.t <= ends[b.step] for b in batches[80:])
    assert all(b.values["loss"] is not None for b in batches)
