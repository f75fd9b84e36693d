"""Constant-predictor baselines: every closed form and search checked against Keras
itself (a model whose output is that constant, evaluated on the targets, with and
without sample weights), the constant checked to be the best, and the ``baselines``
event of real fits (sample weights and class weights applied as Keras applies them)."""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest
from keras import ops

from kmon.engine import probes
from kmon.engine.alarms.baselines import MIN_ROWS, head_baseline, total_baseline
from kmon.engine.alarms.loss_values import class_weights_to_sample_weights, per_sample, reduce
from kmon.engine.event_schema import InvalidEvent
from kmon.engine.events import Baselines, event_from_dict, event_from_json
from kmon.engine.probes import ProbeConfig
from kmon.engine.run.fit_hook import FitHook
from kmon.engine.stop import StopSignal
from kmon.engine.training.loss_kinds import loss_identity

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy")

N = 300
RNG = np.random.default_rng(0)
WEIGHTS = RNG.uniform(0.2, 3.0, size=N).astype("float32")
REAL = RNG.normal(3.0, 2.0, size=(N, 2)).astype("float32")
POSITIVE = np.abs(REAL)
BINARY = (RNG.uniform(size=(N, 1)) < 0.3).astype("float32")
LABELS = RNG.choice(4, size=N, p=[0.5, 0.2, 0.2, 0.1])
ONE_HOT = np.eye(4, dtype="float32")[LABELS]
MAJORITY = np.eye(4, dtype="float32")[RNG.choice(4, size=N, p=[0.7, 0.1, 0.1, 0.1])]
SEQUENCE = RNG.normal(size=(N, 5, 1)).astype("float32")
TOKENS = RNG.choice(3, size=(N, 5))

CASES = [
    ("mse", REAL),
    ("mae", REAL),
    ("mape", REAL),
    ("msle", POSITIVE),
    ("poisson", POSITIVE),
    ("huber", REAL),
    (keras.losses.Huber(delta=0.3), REAL),
    ("log_cosh", REAL),
    ("cosine_similarity", REAL),
    ("binary_crossentropy", BINARY),
    (keras.losses.BinaryCrossentropy(from_logits=True), BINARY),
    (keras.losses.BinaryCrossentropy(label_smoothing=0.1), BINARY),
    ("hinge", BINARY),
    ("squared_hinge", BINARY),
    (keras.losses.BinaryFocalCrossentropy(), BINARY),
    (
        keras.losses.BinaryFocalCrossentropy(apply_class_balancing=True, from_logits=True, gamma=1.5),
        BINARY,
    ),
    ("categorical_crossentropy", ONE_HOT),
    (keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.2), ONE_HOT),
    ("kl_divergence", ONE_HOT),
    ("categorical_hinge", ONE_HOT),
    ("categorical_hinge", MAJORITY),
    ("sparse_categorical_crossentropy", LABELS),
    (keras.losses.SparseCategoricalCrossentropy(from_logits=True), LABELS),
    (keras.losses.CategoricalGeneralizedCrossEntropy(q=0.5), LABELS),
    ("mse", SEQUENCE),
    ("mae", SEQUENCE),
    ("sparse_categorical_crossentropy", TOKENS),
]


def _name(loss) -> str:
    return loss if isinstance(loss, str) else type(loss).__name__


class Constant(keras.layers.Layer):
    """Outputs ``value`` for every sample, whatever the input."""

    def __init__(self, value, **kwargs):
        super().__init__(**kwargs)
        self.value = np.asarray(value, dtype="float32")

    def call(self, x):
        value = ops.convert_to_tensor(self.value)
        return ops.broadcast_to(value[None], (ops.shape(x)[0], *self.value.shape))


def keras_loss_of_constant(loss, constant, y, weights=None) -> float:
    """What ``model.evaluate`` reports for a model that outputs ``constant``."""
    inputs = keras.Input((1,))
    model = keras.Model(inputs, Constant(constant)(inputs))
    model.compile(loss=loss)
    x = np.zeros((len(y), 1), dtype="float32")
    return float(model.evaluate(x, y, sample_weight=weights, batch_size=64, verbose=0))


def weights_for(y):
    """Per-sample weights; a sequence's steps are weighed with (N, T) weights, as
    Keras needs them (per-sample (N,) weights fail to broadcast there)."""
    return np.repeat(WEIGHTS[:, None], 5, axis=1) if y is SEQUENCE or y is TOKENS else WEIGHTS


@pytest.mark.parametrize(("loss", "y"), CASES, ids=[f"{_name(c[0])}-{i}" for i, c in enumerate(CASES)])
def test_each_baseline_is_the_loss_keras_reports_for_its_constant(loss, y):
    identity = loss_identity(loss)
    for weights in (None, weights_for(y)):
        baseline = head_baseline([identity], y, weights)
        assert baseline.value is not None, baseline.method
        assert baseline.rows == N
        expected = keras_loss_of_constant(loss, baseline.constant, y, weights)
        assert baseline.value == pytest.approx(expected, rel=1e-4, abs=1e-6)


#: Losses whose predictions are one probability distribution per sample (a softmax).
DISTRIBUTIONS = (
    "categorical_crossentropy",
    "sparse_categorical_crossentropy",
    "kl_divergence",
    "categorical_generalized_cross_entropy",
)


def project(identity, constant):
    """A moved constant back among the predictions the output can make."""
    logits = identity["args"].get("from_logits")
    if identity["function"] in DISTRIBUTIONS and not logits:
        constant = np.clip(constant, 1e-6, None)
        return constant / constant.sum(axis=-1, keepdims=True)
    if identity["function"] in ("binary_crossentropy", "binary_focal_crossentropy") and not logits:
        return np.clip(constant, 1e-6, 1 - 1e-6)
    return constant


@pytest.mark.parametrize(("loss", "y"), CASES, ids=[f"{_name(c[0])}-{i}" for i, c in enumerate(CASES)])
def test_no_other_constant_does_better(loss, y):
    """The constant is the best one: moving it any way raises the loss."""
    identity = loss_identity(loss)
    weights = weights_for(y)
    baseline = head_baseline([identity], y, weights)
    rng = np.random.default_rng(1)
    for _ in range(20):
        moved = project(identity, baseline.constant + rng.normal(0, 0.05, size=baseline.constant.shape))
        values = per_sample(identity, y, np.broadcast_to(moved, (N, *moved.shape)))
        assert reduce(values, weights) >= baseline.value - 1e-9 * abs(baseline.value)


def test_the_baselines_users_know():
    """The figures a user would check by hand: a balanced binary prior's entropy is
    ln 2, MSE's baseline the targets' variance, MAE's the mean absolute deviation
    from the median."""
    balanced = np.array([0.0, 1.0] * 50)
    assert head_baseline([loss_identity("binary_crossentropy")], balanced).value == pytest.approx(
        math.log(2)
    )
    y = RNG.normal(5, 3, size=(1000, 1))
    assert head_baseline([loss_identity("mse")], y).value == pytest.approx(y.var())
    mad = np.abs(y - np.median(y)).mean()
    assert head_baseline([loss_identity("mae")], y).value == pytest.approx(mad, rel=1e-3)
    prior = np.bincount(LABELS) / N
    entropy = -(prior * np.log(prior)).sum()
    identity = loss_identity("sparse_categorical_crossentropy")
    assert head_baseline([identity], LABELS).value == pytest.approx(entropy)


def test_every_training_target_counts_and_a_wide_sparse_head_is_thinned():
    """Baselines read every training target (up to MAX_VALUES), but a sparse head's
    constant has a value per class: 60,000 labels of 1,000 classes read at once took
    6 s and 1.4 GB, so they are thinned, to no fewer rows than the data checks read."""
    identity = loss_identity("sparse_categorical_crossentropy")
    labels = RNG.integers(0, 10, size=60_000)
    prior = np.bincount(labels) / labels.size
    exact = head_baseline([identity], labels)
    assert exact.rows == 20_000 and exact.value == pytest.approx(-(prior * np.log(prior)).sum(), rel=1e-3)
    binary = RNG.integers(0, 2, size=60_000).astype("float32")
    share = binary.mean()
    entropy = -(share * np.log(share) + (1 - share) * np.log(1 - share))
    both = head_baseline([loss_identity("binary_crossentropy")], binary)
    assert both.rows == 60_000 and both.value == pytest.approx(entropy, rel=1e-6)
    wide = head_baseline([identity], RNG.integers(0, 1000, size=60_000))
    assert MIN_ROWS <= wide.rows < 2 * MIN_ROWS and wide.value == pytest.approx(math.log(1000), rel=0.03)


def test_weights_count_like_repeated_samples_over_the_number_of_values():
    """Keras's sum_over_batch_size divides the weighted sum by the number of values,
    not by the weights' sum: doubling every weight doubles the loss."""
    identity = loss_identity("mse")
    once = head_baseline([identity], REAL, np.ones(N)).value
    twice = head_baseline([identity], REAL, np.full(N, 2.0)).value
    assert twice == pytest.approx(2 * once)
    assert keras_loss_of_constant("mse", REAL.mean(axis=0), REAL, np.full(N, 2.0)) == (
        pytest.approx(twice, rel=1e-5)
    )


def test_unknown_baselines_say_why():
    unknown = head_baseline([loss_identity(lambda y, p: ops.mean(y - p))], REAL)
    assert unknown.value is None and "custom" in unknown.method
    summed = head_baseline([loss_identity(keras.losses.MeanSquaredError(reduction="sum"))], REAL)
    assert summed.value is None and "reduction='sum'" in summed.method
    focal = head_baseline([loss_identity(keras.losses.CategoricalFocalCrossentropy())], ONE_HOT)
    assert focal.value is None
    two = head_baseline([loss_identity("mse"), loss_identity("mae")], REAL)
    assert two.value is None and "2 losses" in two.method
    # (N, 1) labels make Keras's generalized cross-entropy pair every sample with every
    # prediction: no baseline rather than a wrong one.
    gce = loss_identity(keras.losses.CategoricalGeneralizedCrossEntropy())
    assert head_baseline([gce], LABELS[:, None]).value is None


def test_the_total_adds_the_heads_as_keras_does():
    known = head_baseline([loss_identity("mse")], REAL)
    other = head_baseline([loss_identity("binary_crossentropy")], BINARY)
    total = total_baseline([(1.0, known), (0.5, other), (None, None)])
    assert total == pytest.approx(known.value + 0.5 * other.value)
    custom = head_baseline([loss_identity(lambda y, p: ops.mean(y - p))], REAL)
    assert total_baseline([(1.0, known), (1.0, custom)]) is None


def test_class_weights_become_the_sample_weights_keras_makes():
    from keras.src.trainers.data_adapters.data_adapter_utils import (
        class_weight_to_sample_weights,
    )

    weights = {0: 1.0, 1: 3.0, 3: 0.5}
    for y in (BINARY, LABELS, ONE_HOT):
        ours = class_weights_to_sample_weights(y, weights)
        np.testing.assert_allclose(ours, class_weight_to_sample_weights(y, weights))


# -- the baselines event of real fits -------------------------------------------------------------


def fitted_events(model, x, y, **kwargs):
    events = []
    hook = FitHook(events.append, StopSignal(), probes=ProbeConfig(every=5, gradient_every=5))
    hook.install()
    try:
        model.fit(x, y, verbose=0, **kwargs)
    finally:
        hook.uninstall()
        probes.clear_probe_batch()
    return events


def test_a_fit_sends_each_heads_baseline_and_the_total():
    keras.utils.set_random_seed(0)
    x = RNG.normal(size=(N, 4)).astype("float32")
    inputs = keras.Input((4,))
    hidden = keras.layers.Dense(8, activation="relu")(inputs)
    model = keras.Model(
        inputs,
        {
            "flag": keras.layers.Dense(1, activation="sigmoid", name="flag")(hidden),
            "size": keras.layers.Dense(2, name="size")(hidden),
        },
    )
    model.compile(
        optimizer="adam",
        loss={"flag": "binary_crossentropy", "size": "mse"},
        loss_weights={"flag": 2.0, "size": 0.5},
    )
    events = fitted_events(model, x, {"flag": BINARY, "size": REAL}, sample_weight=WEIGHTS, epochs=1)
    (event,) = [e for e in events if e.type == "baselines"]
    flag, size = event.by_head["flag"], event.by_head["size"]
    assert flag["loss"] == "binary_crossentropy" and size["loss"] == "mean_squared_error"
    assert flag["rows"] == size["rows"] == N and flag["weighted"] == "sample_weight"
    expected_flag = keras_loss_of_constant("binary_crossentropy", BINARY.mean(axis=0), BINARY, WEIGHTS)
    assert flag["value"] == pytest.approx(
        head_baseline([loss_identity("binary_crossentropy")], BINARY, WEIGHTS).value
    )
    assert flag["value"] <= expected_flag + 1e-6  # the weighted prior beats the plain one
    assert event.total == pytest.approx(2.0 * flag["value"] + 0.5 * size["value"])
    # Written as a line of the log and read back.
    assert event_from_json(event.to_json()) == event


def test_class_weights_given_to_fit_weigh_the_baseline():
    keras.utils.set_random_seed(0)
    x = RNG.normal(size=(N, 4)).astype("float32")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy")
    weights = {0: 1.0, 1: 2.5}
    events = fitted_events(model, x, BINARY, class_weight=weights, epochs=1)
    (event,) = [e for e in events if e.type == "baselines"]
    (entry,) = event.by_head.values()
    assert entry["weighted"] == "class_weight"
    sample_weights = np.where(BINARY[:, 0] == 1, 2.5, 1.0).astype("float32")
    identity = loss_identity("binary_crossentropy")
    constant = head_baseline([identity], BINARY, sample_weights).constant
    assert entry["value"] == pytest.approx(
        keras_loss_of_constant("binary_crossentropy", constant, BINARY, sample_weights), rel=1e-4
    )


def test_a_custom_loss_has_an_unknown_baseline_and_no_total():
    keras.utils.set_random_seed(0)
    x = RNG.normal(size=(N, 4)).astype("float32")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    model.compile(optimizer="adam", loss=lambda y, p: ops.mean(ops.abs(y - p) ** 3))
    events = fitted_events(model, x, REAL, epochs=1)
    (event,) = [e for e in events if e.type == "baselines"]
    (entry,) = event.by_head.values()
    assert entry["value"] is None and entry["loss"] is None and "custom" in entry["method"]
    assert event.total is None


def test_the_schema_checks_each_heads_entry():
    good = Baselines(fit=0, by_head={"out": {"loss": "mse", "value": 1.5, "method": "m", "rows": 9}})
    data = good.to_dict()
    assert event_from_dict(data) == good
    for bad in ({"out": {"value": "high"}}, {"out": {"rows": -1}}, {"out": 3}, []):
        with pytest.raises(InvalidEvent):
            event_from_dict({**data, "by_head": bad})
    del data["by_head"]
    with pytest.raises(InvalidEvent):
        event_from_dict(data)


def test_a_datasets_sample_weights_weigh_the_baseline():
    """(x, y, sample_weight) batches of a tf.data.Dataset: read with the first batches."""
    import tensorflow as tf

    keras.utils.set_random_seed(0)
    x = RNG.normal(size=(N, 4)).astype("float32")
    dataset = tf.data.Dataset.from_tensor_slices((x, REAL, WEIGHTS)).batch(50)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    model.compile(optimizer="adam", loss="mse")
    events = fitted_events(model, dataset, None, epochs=1)
    (event,) = [e for e in events if e.type == "baselines"]
    (entry,) = event.by_head.values()
    # The dataset's first 8 batches of 50 rows: all 300 rows, weighted.
    assert entry["weighted"] == "sample_weight" and entry["rows"] == N
    expected = head_baseline([loss_identity("mse")], REAL, WEIGHTS).value
    assert entry["value"] == pytest.approx(expected, rel=1e-6)
    assert entry["value"] != pytest.approx(head_baseline([loss_identity("mse")], REAL).value)
