"""The dead_units alarm on real (tiny) Keras models: ReLU layers killed by a negative
bias or a learning rate far too high raise it, healthy ones stay silent, the fixes
the advice gives are checked, and the view that reads the layers leaves the model
and its predictions as they were."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from kmon.engine import probes
from kmon.engine.alarms.probe_batch import ProbeBatch
from kmon.engine.alarms.unit_rules import DeadUnitsRule
from kmon.engine.alarms.units import _unit_maxima, forward, relu_activation, unit_view
from kmon.engine.probes import ProbeConfig
from kmon.engine.run.fit_hook import FitHook
from kmon.engine.stop import StopSignal

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy")

#: Probe on a fixed schedule: the budget would make these tiny runs depend on timing.
EVERY = ProbeConfig(every=5, gradients=False)


def fit(model, x, y, *, config=EVERY, **kwargs):
    """``model.fit`` under kmon's hook; returns (events, history)."""
    events = []
    hook = FitHook(events.append, StopSignal(), probes=config)
    hook.install()
    try:
        history = model.fit(x, y, verbose=0, **kwargs)
    finally:
        hook.uninstall()
    return events, history


def raised(events, kind=None):
    return {
        (e.kind, e.subject): e
        for e in events
        if e.type == "alarm" and e.state == "raised" and kind in (None, e.kind)
    }


def notes(events):
    return [e.text for e in events if e.type == "notice"]


@pytest.fixture(autouse=True)
def _clean_probe_settings():
    yield
    probes.clear_probe_batch()
    probes.set_probe_config()


def standard_data(rows=2000, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 16)).astype("float32")
    return x, (x[:, :3].sum(axis=1, keepdims=True) > 0).astype("float32")


def mlp(*, bias=None, activation="relu", lr=1e-3, kernel_initializer="glorot_uniform"):
    """Two hidden layers of 32 and a sigmoid output, on 16 standardized features."""
    keras.utils.set_random_seed(0)
    first = {"bias_initializer": keras.initializers.Constant(bias)} if bias is not None else {}
    model = keras.Sequential(
        [
            keras.Input((16,)),
            keras.layers.Dense(
                32,
                activation=activation,
                kernel_initializer=kernel_initializer,
                name="hidden",
                **first,
            ),
            keras.layers.Dense(32, activation=activation, name="hidden2"),
            keras.layers.Dense(1, activation="sigmoid", name="out"),
        ]
    )
    model.compile(keras.optimizers.Adam(lr), "binary_crossentropy", metrics=["accuracy"])
    return model


# -- broken layers raise it -------------------------------------------------------------------


def test_a_large_negative_bias_kills_every_unit_at_once():
    """bias -10 on standardized inputs: every unit of the first layer is below 0 for
    every sample, and the second gets only zeros, so it is dead too. The output is
    then one constant: prediction_variance comes with it."""
    x, y = standard_data()
    events, history = fit(mlp(bias=-10.0), x, y, epochs=2, batch_size=32)
    alarms = raised(events)
    # A dead network also predicts a constant and learns nothing: those alarms are
    # true of it too (the diagnosis zoo allows them beside dead_units).
    assert set(alarms) == {
        ("dead_units", "hidden"),
        ("dead_units", "hidden2"),
        ("prediction_variance", "out"),
        ("no_learning", None),
    }
    dead = alarms[("dead_units", "hidden")]
    assert dead.epoch == 0 and dead.severity == "warning"
    assert dead.evidence == {
        "layer": "hidden",
        "activation": "relu",
        "dead": 32,
        "units": 32,
        "fraction": 1.0,
        "threshold": 0.75,
        "checks": 3,
        "probe_samples": 256,
    }
    assert dead.message.startswith("layer hidden: 32 of 32 relu units (100%) output exactly 0")
    # Dead units get no gradient: the model learns nothing.
    assert history.history["accuracy"][0] == history.history["accuracy"][1]


def test_a_learning_rate_far_too_high_kills_units_while_training():
    """Adam at 1.0: the first updates push most of the second layer below 0 for every
    sample. At Adam's default 1e-3 the same model keeps its units (the fix, and the
    healthy test below)."""
    x, y = standard_data()
    events, _ = fit(mlp(lr=1.0), x, y, epochs=2, batch_size=32)
    dead = raised(events, "dead_units")
    assert set(dead) == {("dead_units", "hidden2")}
    assert dead[("dead_units", "hidden2")].evidence["fraction"] >= 0.75


def test_a_leaky_activation_keeps_units_that_start_below_zero_alive():
    """The fix the advice gives: with leaky_relu the same -10 bias still leaves a
    gradient, and the model learns (no ReLU-family layer, nothing dead)."""
    x, y = standard_data()
    events, history = fit(mlp(bias=-10.0, activation="leaky_relu"), x, y, epochs=2, batch_size=32)
    assert raised(events, "dead_units") == {}
    accuracy = history.history["accuracy"]
    assert accuracy[1] > accuracy[0] + 0.1


# -- healthy layers stay silent -------------------------------------------------------------


@pytest.mark.parametrize("kernel_initializer", ["glorot_uniform", "he_normal"])
def test_default_biases_keep_their_units(kernel_initializer):
    x, y = standard_data()
    events, _ = fit(mlp(kernel_initializer=kernel_initializer), x, y, epochs=2, batch_size=32)
    assert raised(events) == {}
    assert not notes(events)


def images(rows=600, seed=1):
    """16x16 images in [0, 1] with a bright square or a cross at a random place, or
    neither: 3 classes a small CNN learns in a few epochs."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 0.5, size=(rows, 16, 16, 1)).astype("float32")
    y = rng.integers(0, 3, size=rows)
    for i in range(rows):
        r, c = rng.integers(0, 12, size=2)
        if y[i] == 1:
            x[i, r : r + 4, c : c + 4] = 1.0
        elif y[i] == 2:
            x[i, r : r + 4, c + 1 : c + 3] = 1.0
            x[i, r + 1 : r + 3, c : c + 4] = 1.0
    return x, y


def cnn(head, *, batch_norm=False):
    """A small CNN; ``head`` makes the layers between its last convolution and its
    softmax output (after the seed is set)."""
    keras.utils.set_random_seed(0)
    norm = [keras.layers.BatchNormalization()] if batch_norm else []
    conv = (
        [keras.layers.Conv2D(16, 3), *norm, keras.layers.ReLU()]
        if batch_norm
        else [keras.layers.Conv2D(16, 3, activation="relu")]
    )
    model = keras.Sequential(
        [
            keras.Input((16, 16, 1)),
            *conv,
            keras.layers.MaxPooling2D(),
            keras.layers.Conv2D(32, 3, activation="relu"),
            *head(),
            keras.layers.Dense(3, activation="softmax"),
        ]
    )
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def test_a_healthy_cnn_with_batch_normalization_stays_silent():
    x, y = images()
    model = cnn(lambda: [keras.layers.Flatten()], batch_norm=True)
    events, _ = fit(model, x, y, epochs=2, batch_size=32)
    assert raised(events, "dead_units") == {}
    layers = [layer.name for layer in unit_view(model).layers]
    assert len(layers) == 2 and layers[0].startswith("re_lu")


def test_half_dead_after_global_average_pooling_is_not_an_alarm(monkeypatch):
    """Why the threshold is three quarters, not half: a Dense ReLU layer after
    GlobalAveragePooling2D gets features that are all positive and vary little
    across images, so up to about half its units are off for every image, in a CNN
    that learns (41-62% through 6 epochs on 1,200 images, 3 seeds; 47-50% at most
    through 3 epochs, 4 seeds; with leaky_relu there, nothing dead, it learned no
    better: accuracy 0.67-0.72 after 6 epochs, against 0.67-0.71)."""
    seen: dict[int, list[float]] = {}
    update = DeadUnitsRule.update

    def record(rule, dead, units):
        seen.setdefault(id(rule), []).append(dead / units)
        return update(rule, dead, units)

    monkeypatch.setattr(DeadUnitsRule, "update", record)
    x, y = images(rows=1200)
    model = cnn(
        lambda: [
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(32, activation="relu", name="pooled"),
        ]
    )
    events, _ = fit(model, x, y, epochs=2, batch_size=32)
    assert raised(events, "dead_units") == {}
    assert [layer.name for layer in unit_view(model).layers][-1] == "pooled"
    fractions = list(seen.values())[-1]  # rules are made in the view's layer order
    assert 0.4 <= max(fractions) < 0.75, fractions


# -- what is read, and how ------------------------------------------------------------------


def test_which_layers_are_relu_family():
    layers = keras.layers
    assert relu_activation(layers.Dense(4, activation="relu")) == "relu"
    assert relu_activation(layers.Conv2D(4, 3, activation="relu6")) == "relu6"
    assert relu_activation(layers.Activation("hard_swish")) == "hard_silu"
    assert relu_activation(layers.Dense(4, activation="sparse_plus")) == "sparse_plus"
    assert relu_activation(layers.ReLU()) == "ReLU"
    for layer in (
        layers.ReLU(negative_slope=0.1),
        layers.Dense(4, activation="leaky_relu"),
        layers.Dense(4, activation="gelu"),
        layers.Dense(4),
        layers.LSTM(4, activation="relu"),
    ):
        assert relu_activation(layer) is None, layer
    # hard_silu and sparse_plus are exactly 0 on a half-line, like relu.
    low = np.array([-5.0, -4.0, -3.0])
    assert not np.any(keras.ops.convert_to_numpy(keras.activations.hard_silu(low)))
    assert not np.any(keras.ops.convert_to_numpy(keras.activations.sparse_plus(low)))


@pytest.mark.parametrize("axis", [1, 3], ids=["channels-first", "channels-last"])
def test_each_unit_is_reduced_over_every_other_axis(axis):
    values = np.random.default_rng(0).normal(size=(5, 4, 3, 2))
    others = tuple(i for i in range(4) if i != axis)
    reduced = keras.ops.convert_to_numpy(_unit_maxima(values, axis))
    np.testing.assert_allclose(reduced, values.max(axis=others))


def two_heads():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8,), name="features")
    hidden = keras.layers.Dense(16, activation="relu", name="hidden")(inputs)
    shared = keras.layers.Dense(16, activation="relu", name="shared")
    twice = shared(shared(hidden))  # called twice: no one output tensor, not read
    conv = keras.layers.Conv1D(4, 3, activation="relu", name="conv")(
        keras.layers.Reshape((8, 1))(inputs)
    )
    first = keras.layers.Dense(1, name="score")(
        keras.layers.Concatenate()([twice, keras.layers.Flatten()(conv)])
    )
    second = keras.layers.Dense(3, activation="softmax", name="kind")(hidden)
    model = keras.Model(inputs, {"score": first, "kind": second})
    model.compile("adam", {"score": "mse", "kind": "sparse_categorical_crossentropy"})
    return model


def test_the_view_returns_the_models_predictions_and_leaves_the_model_as_it_was():
    model = two_heads()
    config, weights = model.get_config(), len(model.weights)
    x = np.random.default_rng(0).normal(size=(64, 8)).astype("float32")
    view = unit_view(model)
    assert [(layer.name, layer.units) for layer in view.layers] == [("hidden", 16), ("conv", 4)]
    predictions, maxima = forward(model, ProbeBatch(x, None, "test"), view)
    expected = model.predict_on_batch(x)
    assert predictions.keys() == expected.keys()
    for key in expected:
        np.testing.assert_allclose(predictions[key], expected[key], rtol=1e-5, atol=1e-6)
    hidden = keras.Model(model.input, model.get_layer("hidden").output).predict_on_batch(x)
    np.testing.assert_allclose(maxima[0], np.abs(hidden).max(axis=0), rtol=1e-5)
    assert maxima[1].shape == (4,)
    assert model.get_config() == config and len(model.weights) == weights
    assert unit_view(model) is view  # built once per model

    single = keras.Sequential([keras.Input((8,)), keras.layers.Dense(4, activation="relu")])
    predictions, _ = forward(single, ProbeBatch(x, None, "test"), unit_view(single))
    np.testing.assert_allclose(predictions, single.predict_on_batch(x), rtol=1e-5)


def test_the_check_adds_no_forward_pass(monkeypatch):
    """The prediction probe's one forward pass returns the ReLU layers' activity too:
    the model's own predict_on_batch is never called, and the view's once a probe."""
    calls = {}
    original = keras.Model.predict_on_batch

    def counted(self, x):
        calls[self] = calls.get(self, 0) + 1
        return original(self, x)

    monkeypatch.setattr(keras.Model, "predict_on_batch", counted)
    x, y = standard_data(rows=640)
    model = mlp()
    fit(model, x, y, epochs=1, batch_size=32)
    view = unit_view(model).model
    assert calls == {view: 4}  # 20 steps, every 5


class Subclassed(keras.Model):
    def __init__(self, activation="relu") -> None:
        super().__init__()
        self.hidden = keras.layers.Dense(32, activation=activation)
        self.out = keras.layers.Dense(1, activation="sigmoid")

    def call(self, inputs):
        return self.out(self.hidden(inputs))


def test_a_subclassed_model_is_skipped_with_one_note():
    x, y = standard_data(rows=512)
    keras.utils.set_random_seed(0)
    model = Subclassed()
    model.compile("adam", "binary_crossentropy")
    first, _ = fit(model, x, y, epochs=1, batch_size=32)
    second, _ = fit(model, x, y, epochs=1, batch_size=32)
    said = [text for text in notes(first + second) if "dead-unit" in text]
    assert said == [
        "alarms: dead-unit check skipped: Subclassed is a subclassed model: kmon cannot "
        "read its 1 ReLU layer(s)' outputs without a layer graph"
    ]
    assert raised(first + second) == {}
    plain = Subclassed(activation="tanh")
    plain.compile("adam", "binary_crossentropy")
    events, _ = fit(plain, x, y, epochs=1, batch_size=32)
    assert not notes(events)  # nothing to skip: no ReLU layer


def test_too_few_probe_samples_turn_the_check_off():
    x, y = standard_data(rows=20)
    events, _ = fit(mlp(bias=-10.0), x, y, epochs=3, batch_size=4)
    assert raised(events, "dead_units") == {}
    assert any("20 probe samples are too few" in text for text in notes(events))
