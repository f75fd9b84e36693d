"""Alarms on real (tiny) Keras training runs: collapsing models raise them, healthy
ones stay silent, and probing never changes what training computes."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from kmon.engine import probes
from kmon.engine.alarms.book import AlarmBook
from kmon.engine.alarms.probe_callback import ProbeCallback
from kmon.engine.probes import ProbeConfig
from kmon.engine.run.fit_hook import FitHook
from kmon.engine.stop import StopSignal
from kmon.engine.training.callback import KmonCallback

#: Probe on a fixed schedule: the budget would make these tiny runs depend on timing.
EVERY = ProbeConfig(every=3, gradient_every=2)


def fit(model, x, y=None, *, config=EVERY, stop=None, **kwargs):
    """``model.fit`` under kmon's hook; returns (events, history)."""
    events = []
    hook = FitHook(events.append, stop or StopSignal(), probes=config)
    hook.install()
    try:
        history = model.fit(x, y, verbose=0, **kwargs)
    finally:
        hook.uninstall()
    return events, history


def alarms(events, state="raised"):
    return {(e.kind, e.subject): e for e in events if e.type == "alarm" and e.state == state}


def series_windows(n=320, window=12, seed=0):
    """Windows of a series in raw units (thousands) and the value after each."""
    rng = np.random.default_rng(seed)
    t = np.arange(n + window + 1)
    values = 3000 + 800 * np.sin(2 * np.pi * t / 24) + 60 * rng.normal(size=t.size)
    x = np.stack([values[i : i + window] for i in range(n)])[..., None].astype("float32")
    y = np.stack([values[i + 1 : i + window + 1] for i in range(n)])[..., None].astype("float32")
    return x, y


# -- collapsing models ---------------------------------------------------------------------


def test_lstm_on_raw_units_collapses_and_every_alarm_says_why():
    """The classic: a series in the thousands into an LSTM. The data check fires at
    fit start, the prediction spread collapses within two epochs, and the LSTM gets no
    gradient through its saturated gates."""
    keras.utils.set_random_seed(0)
    x, y = series_windows()
    model = keras.Sequential(
        [
            keras.Input(x.shape[1:]),
            keras.layers.LSTM(8, name="lstm"),
            keras.layers.Dense(1, name="forecast"),
        ]
    )
    model.compile(optimizer="adam", loss="mse")
    events, _ = fit(model, x, y[:, -1], epochs=2, batch_size=32)
    raised = alarms(events)
    unscaled = raised[("unscaled_data", None)]
    assert unscaled.epoch is None and unscaled.evidence["input x max |mean|"] > 2000
    assert "target" in unscaled.message
    collapse = raised[("prediction_variance", "forecast")]
    assert collapse.epoch <= 1 and collapse.severity == "warning"
    assert collapse.evidence["ratio"] < 0.05 and collapse.evidence["target_std"] > 100
    vanishing = raised[("vanishing_gradients", None)]
    assert vanishing.evidence["first_layer"] == "lstm"
    assert vanishing.evidence["first_to_last"] < 1e-4
    # Alarms come after the fit_start they belong to, raised once each.
    types = [e.type for e in events]
    assert types.index("alarm") > types.index("fit_start")
    assert len([e for e in events if e.type == "alarm"]) == len(raised)


def test_sequence_output_collapse():
    """return_sequences=True: the spread is taken over samples and time steps."""
    keras.utils.set_random_seed(0)
    x, y = series_windows()
    model = keras.Sequential(
        [
            keras.Input(x.shape[1:]),
            keras.layers.GRU(8, return_sequences=True),
            keras.layers.Dense(1, name="next_values"),
        ]
    )
    model.compile(optimizer="adam", loss="mse")
    events, _ = fit(model, x, y, epochs=2, batch_size=32, config=ProbeConfig(every=3))
    collapse = alarms(events)[("prediction_variance", "next_values")]
    assert collapse.epoch <= 1
    assert collapse.evidence["measure"] == "std ratio"
    assert collapse.evidence["ratio"] < 0.05


def test_dense_regression_with_saturated_tanh_collapses():
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(1)
    x = rng.normal(2000, 30, size=(512, 6)).astype("float32")
    y = (x - 2000).sum(axis=1, keepdims=True) * 10 + 5000
    model = keras.Sequential(
        [
            keras.Input((6,)),
            keras.layers.Dense(16, activation="tanh"),
            keras.layers.Dense(1, name="forecast"),
        ]
    )
    model.compile(optimizer="adam", loss="mse")
    events, _ = fit(model, x, y, epochs=2, batch_size=32)
    collapse = alarms(events)[("prediction_variance", "forecast")]
    assert collapse.epoch <= 1


def test_the_alarm_clears_once_the_model_recovers():
    """Same model, then standardized data: the next fit clears what the first raised."""
    keras.utils.set_random_seed(0)
    x, y = series_windows()
    y = y[:, -1]
    model = keras.Sequential(
        [keras.Input(x.shape[1:]), keras.layers.LSTM(8), keras.layers.Dense(1, name="forecast")]
    )
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
    events = []
    hook = FitHook(events.append, StopSignal(), probes=EVERY)
    hook.install()
    try:
        model.fit(x, y, epochs=1, batch_size=32, verbose=0)
        mean, std = x.mean(), x.std()
        model.fit((x - mean) / std, (y - mean) / std, epochs=3, batch_size=32, verbose=0)
    finally:
        hook.uninstall()
    cleared = alarms(events, "cleared")
    assert {("unscaled_data", None), ("prediction_variance", "forecast")} <= set(cleared)
    assert all(e.fit == 1 for e in cleared.values())
    assert not hook.alarms.is_active("prediction_variance", "forecast")


def test_after_the_early_schedule_a_fit_end_checks_an_alarm_only_on_credit(monkeypatch):
    """A fit's end judges a prediction alarm still raised on the final weights; past
    the model's early schedule only as far as the budget's credit goes: a model the
    alarm fits ran two checks at every fit's end, over its budget."""
    ends = []
    judged = ProbeCallback._probe_predictions

    def counted(self, step):
        if self._ending:
            ends[-1] += 1
        judged(self, step)

    def on_train_end(self, logs=None):
        ends.append(0)
        self._ending = True
        try:
            end(self, logs)
        finally:
            self._ending = False

    end = ProbeCallback.on_train_end
    monkeypatch.setattr(ProbeCallback, "_ending", False, raising=False)
    monkeypatch.setattr(ProbeCallback, "_probe_predictions", counted)
    monkeypatch.setattr(ProbeCallback, "on_train_end", on_train_end)
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(1).normal(2000, 30, size=(512, 6)).astype("float32")
    y = (x - 2000).sum(axis=1, keepdims=True) * 10 + 5000
    model = keras.Sequential(
        [keras.Input((6,)), keras.layers.Dense(16, activation="tanh"), keras.layers.Dense(1, name="forecast")]
    )
    model.compile(optimizer="adam", loss="mse")
    events = []
    hook = FitHook(events.append, StopSignal())
    hook.install()
    try:
        probes.set_probe_config(every=3, gradient_every=2)  # probes whatever they cost
        model.fit(x, y, epochs=2, batch_size=32, verbose=0)
        assert hook.alarms.is_active("prediction_variance", "forecast")
        assert ends == [2]  # by ``every``: checked at the end as before
        probes.set_probe_config()  # the budget, in debt from those probes
        model.fit(x, y, epochs=1, batch_size=32, verbose=0)
        assert ends == [2, 0]
        assert hook.alarms.is_active("prediction_variance", "forecast")  # still collapsed
    finally:
        hook.uninstall()
        probes.set_probe_config()


# -- healthy models stay silent ------------------------------------------------------------------


def test_healthy_regression_raises_nothing():
    keras.utils.set_random_seed(0)
    x, y = series_windows()
    mean, std = x.mean(), x.std()
    x, y = (x - mean) / std, (y[:, -1] - mean) / std
    model = keras.Sequential(
        [keras.Input(x.shape[1:]), keras.layers.LSTM(8), keras.layers.Dense(1, name="forecast")]
    )
    model.compile(optimizer="adam", loss="mse")
    events, _ = fit(model, x, y, epochs=2, batch_size=32)
    assert alarms(events) == {}
    assert not [e for e in events if e.type == "notice"]


@pytest.mark.parametrize(
    "classes, zero_init",
    [(10, False), (100, False), (1, True)],
    ids=["softmax-10", "softmax-100", "sigmoid-zero-init"],
)
def test_healthy_classifiers_early_in_training_raise_nothing(classes, zero_init):
    """At initialization a classifier's probabilities barely vary (by about 1/classes),
    and a zero-initialized output layer gives the same output for every input. Neither
    is a collapse: log-probabilities vary like the logits, and a spread that grows
    from zero is a model learning."""
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(640, 16)).astype("float32")
    scores = x @ rng.normal(size=(16, max(classes, 2)))
    if classes == 1:
        y, loss, units, activation = (
            (scores[:, :1] > 0).astype("float32"),
            "binary_crossentropy",
            1,
            "sigmoid",
        )
    else:
        y, loss, units, activation = (
            scores.argmax(axis=1),
            "sparse_categorical_crossentropy",
            classes,
            "softmax",
        )
    initializer = "zeros" if zero_init else "glorot_uniform"
    model = keras.Sequential(
        [
            keras.Input((16,)),
            keras.layers.Dense(32, activation="relu"),
            keras.layers.Dense(units, activation=activation, kernel_initializer=initializer),
        ]
    )
    model.compile(optimizer=keras.optimizers.Adam(1e-4), loss=loss)
    events, _ = fit(model, x, y, epochs=2, batch_size=32, config=ProbeConfig(every=2))
    assert alarms(events) == {}


def test_near_constant_targets_are_reported_not_alarmed():
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).normal(size=(256, 4)).astype("float32")
    y = np.full((256, 1), 0.5, dtype="float32")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    events, _ = fit(model, x, y, epochs=2, batch_size=32)
    assert alarms(events) == {}
    notes = [e.text for e in events if e.type == "notice"]
    assert any("targets are (nearly) constant" in text for text in notes), notes


# -- NaN, Inf and exploding gradients ---------------------------------------------------------------


def diverging_model(lr=50.0):
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((8,)), keras.layers.Dense(32, activation="relu"), keras.layers.Dense(1)]
    )
    model.compile(optimizer=keras.optimizers.SGD(lr), loss="mse")
    return model


def standard_data(rows=512, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 8)).astype("float32")
    return x, (x @ rng.normal(size=(8, 1))).astype("float32")


def test_nan_loss_raises_at_once_and_gradients_explode():
    x, y = standard_data()
    events, history = fit(diverging_model(), x, y, epochs=2, batch_size=32)
    raised = alarms(events)
    nan = raised[("nan_loss", None)]
    assert nan.severity == "error"
    first_bad = next(e for e in events if e.type == "batch" and not np.isfinite(e.logs["loss"]))
    assert (nan.epoch, nan.step) == (first_bad.epoch, first_bad.step)
    exploding = raised[("exploding_gradients", None)]
    assert exploding.severity == "error" and exploding.evidence["nonfinite_layers"]
    assert len(history.history["loss"]) == 2  # without --stop-on-nan training goes on


class Subclassed(keras.Model):
    """Built by its first call, inside fit's first step: not yet at on_train_begin."""

    def __init__(self) -> None:
        super().__init__()
        self.hidden = keras.layers.Dense(32, activation="relu")
        self.out = keras.layers.Dense(1)

    def call(self, inputs):
        return self.out(self.hidden(inputs))


def test_a_subclassed_model_built_by_fit_gets_gradient_alarms():
    keras.utils.set_random_seed(0)
    model = Subclassed()
    model.compile(optimizer=keras.optimizers.SGD(50.0), loss="mse")
    x, y = standard_data()
    events, _ = fit(model, x, y, epochs=2, batch_size=32)
    notices = [e.text for e in events if e.type == "notice"]
    assert not any("trainable" in text for text in notices), notices
    assert ("exploding_gradients", None) in alarms(events)


def test_stop_on_nan_stops_the_run_at_the_first_non_finite_batch():
    x, y = standard_data()
    stop = StopSignal()
    events = []
    hook = FitHook(events.append, stop, probes=EVERY, stop_on_nan=True)
    hook.install()
    try:
        model = diverging_model()
        history = model.fit(x, y, epochs=5, batch_size=32, verbose=0)
        skipped = model.fit(x, y, epochs=1, verbose=0)
    finally:
        hook.uninstall()
    nan = alarms(events)[("nan_loss", None)]
    batches = [e for e in events if e.type == "batch"]
    assert batches[-1].step == nan.step and batches[-1].epoch == nan.epoch == 0
    assert len(history.history["loss"]) == 1
    assert stop.requested
    assert skipped is history  # later fits are skipped, as for a stop from the monitor
    assert any("--stop-on-nan" in e.text for e in events if e.type == "notice")


def test_nan_in_the_data():
    x, y = standard_data(rows=256)
    x[10, 3] = np.nan
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    events, _ = fit(model, x, y, epochs=1, batch_size=64)
    raised = alarms(events)
    bad = raised[("nonfinite_data", None)]
    assert bad.severity == "error" and bad.evidence["input x NaN"] == 1
    first_bad = next(e for e in events if e.type == "batch" and not np.isfinite(e.logs["loss"]))
    assert raised[("nan_loss", None)].step == first_bad.step


# -- probing is invisible to training ---------------------------------------------------------


def two_heads():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8,))
    hidden = keras.layers.Dense(16, activation="relu")(inputs)
    first = keras.layers.Dense(1, name="score")(hidden)
    second = keras.layers.Dense(2, name="extra")(keras.layers.Dropout(0.3)(hidden))
    model = keras.Model(inputs, [first, second])
    model.compile(optimizer="adam", loss=["mse", "mae"], loss_weights=[1.0, 0.5])
    return model


def test_probes_do_not_change_what_training_computes():
    """Probing every step (predictions and gradients) leaves History and every batch's
    logs, per-head losses included, exactly as without probes."""
    x, y = standard_data(rows=200)
    targets = [y, np.concatenate([y, -y], axis=1)]
    probed, history = fit(
        two_heads(),
        x,
        targets,
        epochs=2,
        batch_size=32,
        config=ProbeConfig(every=1, gradient_every=1),
    )
    plain, plain_history = fit(
        two_heads(), x, targets, epochs=2, batch_size=32, config=ProbeConfig(enabled=False)
    )
    assert history.history == plain_history.history
    logs = [e.logs for e in probed if e.type == "batch"]
    assert logs == [e.logs for e in plain if e.type == "batch"]
    assert not [e for e in plain if e.type == "alarm"]


def test_probe_callback_keeps_async_dispatch_possible():
    """Keras dispatches batch-end hooks asynchronously (on JAX and torch) only when
    every callback is async_safe; the periodic probe work runs in
    on_train_batch_begin, which Keras always calls on the training thread."""
    probe = ProbeCallback(lambda event: None, 0, AlarmBook(lambda e: None), None)
    assert probe.async_safe and KmonCallback(lambda event: None, 0).async_safe
    assert type(probe).on_train_batch_end is not keras.callbacks.Callback.on_train_batch_end


# -- where the probe batch comes from -------------------------------------------------------------


def test_dataset_inputs_are_probed_on_their_first_batches():
    keras.utils.set_random_seed(0)
    x, y = series_windows()
    dataset = tf.data.Dataset.from_tensor_slices((x, y[:, -1])).batch(32)
    model = keras.Sequential(
        [keras.Input(x.shape[1:]), keras.layers.LSTM(8), keras.layers.Dense(1, name="forecast")]
    )
    model.compile(optimizer="adam", loss="mse")
    events, _ = fit(model, dataset, epochs=2, shuffle=False)
    raised = alarms(events)
    assert ("prediction_variance", "forecast") in raised
    assert raised[("unscaled_data", None)].evidence["rows checked"] == 256


def test_generators_need_a_probe_batch_from_the_user():
    keras.utils.set_random_seed(0)
    x, y = series_windows()
    y = y[:, -1]

    def batches():
        while True:
            for i in range(0, len(x), 32):
                yield x[i : i + 32], y[i : i + 32]

    def model():
        keras.utils.set_random_seed(0)
        m = keras.Sequential(
            [keras.Input(x.shape[1:]), keras.layers.LSTM(8), keras.layers.Dense(1, name="forecast")]
        )
        m.compile(optimizer="adam", loss="mse")
        return m

    events, _ = fit(model(), batches(), epochs=2, steps_per_epoch=10, shuffle=False)
    assert alarms(events) == {}
    notes = " ".join(e.text for e in events if e.type == "notice")
    assert "set_probe_batch" in notes
    probes.set_probe_batch(x[::4], y[::4])
    events, _ = fit(model(), batches(), epochs=2, steps_per_epoch=10, shuffle=False)
    assert ("prediction_variance", "forecast") in alarms(events)
    assert ("unscaled_data", None) in alarms(events)


def test_each_fit_says_what_it_checks():
    """The probes event of each fit, as the Alarms tab reads it: the configured
    budgets with both probes on; a probe batch without targets turns the probes off
    (and a note says why); checks turned off say so."""
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).normal(size=(64, 3)).astype("float32")
    y = x.sum(axis=1, keepdims=True)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    config = ProbeConfig()
    events, _ = fit(model, x, y, config=config, epochs=1, batch_size=32)
    (said,) = [e for e in events if e.type == "probes"]
    assert (said.fit, said.data, said.loss, said.predictions, said.gradients) == (
        0,
        True,
        True,
        True,
        True,
    )
    assert (said.probe_samples, said.budget, said.gradient_budget) == (64, 0.0015, 0.0005)
    assert (said.every, said.gradient_every, said.stop_on_nan) == (None, None, False)

    probes.set_probe_batch(x[:16])  # inputs only: nothing to score predictions against
    events, _ = fit(model, x, y, config=EVERY, epochs=1, batch_size=32)
    (said,) = [e for e in events if e.type == "probes"]
    assert (said.data, said.loss, said.predictions, said.gradients) == (True, True, False, False)
    assert (said.every, said.gradient_every) == (3, 2)
    assert any("no targets" in e.text for e in events if e.type == "notice")

    events, _ = fit(model, x, y, config=ProbeConfig(enabled=False), epochs=1, batch_size=32)
    (said,) = [e for e in events if e.type == "probes"]
    assert not (said.data or said.loss or said.predictions or said.gradients)


def test_a_probe_batch_is_fed_to_tensorflow_as_tensors_made_once():
    from kmon.engine.alarms.probe_batch import ProbeBatch

    x = {"image": np.ones((4, 3), "float32"), "meta": np.zeros((4, 1), "float32")}
    batch = ProbeBatch(x, [np.arange(4.0), None], "test")
    fed_x, fed_y = batch.fed()
    assert isinstance(fed_x["image"], tf.Tensor) and fed_y[1] is None
    np.testing.assert_array_equal(fed_y[0].numpy(), np.arange(4.0))
    assert batch.fed()[0] is fed_x  # made once
    batch.y = [np.arange(4.0) * 2, None]  # probe_batches sets y after making it
    np.testing.assert_array_equal(batch.fed()[1][0].numpy(), np.arange(4.0) * 2)
    mixed = np.array([1, "a"], dtype=object)  # no tensor holds it
    fed_x, fed_y = ProbeBatch(mixed, None, "test").fed()
    assert fed_x is mixed and fed_y is None  # as it is: the model's call says why
