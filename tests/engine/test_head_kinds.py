"""What each head is trained for, read from its compiled loss object on real (tiny)
compiled Keras models: classification or regression, binary, from logits; None for
a loss kmon does not know, whatever its name says. Older logs, without these
fields, fall back to the loss's name in one place (``head_kind``)."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from kmon.engine.alarms.probe_heads import Head, heads_of
from kmon.engine.event_schema import InvalidEvent
from kmon.engine.events import FitStart, event_from_dict
from kmon.engine.head_map import CLASSIFICATION, REGRESSION, HeadKind, head_kind
from kmon.engine.probes import ProbeConfig
from kmon.engine.run.fit_hook import FitHook
from kmon.engine.stop import StopSignal
from kmon.engine.training.callback import KmonCallback
from kmon.engine.training.heads import built_head_map, preview_head_map
from kmon.engine.view.head_board import HeadBoard
from kmon.engine.view.head_text import heads_summary

CLASSIFIER = HeadKind(CLASSIFICATION)
BINARY = HeadKind(CLASSIFICATION, binary=True)
REGRESSOR = HeadKind(REGRESSION)
UNKNOWN = HeadKind(None)


def my_crossentropy(y_true, y_pred):
    """A custom loss whose name would have passed for a classifier's."""
    return keras.ops.mean(keras.ops.square(y_true - y_pred), axis=-1)


class MeanSquaredLogError(keras.losses.Loss):
    """A custom Loss subclass whose name would have passed for a regression's."""

    def call(self, y_true, y_pred):
        return keras.ops.mean(keras.ops.square(keras.ops.log1p(y_pred) - keras.ops.log1p(y_true)))


# (units, activation, loss, kind): every form compile() takes a loss in.
CASES = {
    "binary_crossentropy alias": (1, "sigmoid", "binary_crossentropy", BINARY),
    "binary_crossentropy function": (1, "sigmoid", keras.losses.binary_crossentropy, BINARY),
    "BinaryCrossentropy": (1, "sigmoid", keras.losses.BinaryCrossentropy(), BINARY),
    "BinaryCrossentropy from logits": (
        1,
        None,
        keras.losses.BinaryCrossentropy(from_logits=True),
        HeadKind(CLASSIFICATION, binary=True, from_logits=True),
    ),
    "categorical_crossentropy alias": (3, "softmax", "categorical_crossentropy", CLASSIFIER),
    "CategoricalCrossentropy from logits": (
        3,
        None,
        keras.losses.CategoricalCrossentropy(from_logits=True),
        HeadKind(CLASSIFICATION, from_logits=True),
    ),
    "sparse_categorical_crossentropy alias": (
        3,
        "softmax",
        "sparse_categorical_crossentropy",
        CLASSIFIER,
    ),
    "SparseCategoricalCrossentropy from logits": (
        3,
        None,
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        HeadKind(CLASSIFICATION, from_logits=True),
    ),
    "crossentropy alias, resolved by Keras": (3, "softmax", "crossentropy", CLASSIFIER),
    "mse alias": (1, None, "mse", REGRESSOR),
    "MeanSquaredError": (1, None, keras.losses.MeanSquaredError(), REGRESSOR),
    "mae alias": (1, None, "mae", REGRESSOR),
    "MeanAbsoluteError": (1, None, keras.losses.MeanAbsoluteError(), REGRESSOR),
    "huber alias": (1, None, "huber", REGRESSOR),
    "Huber": (1, None, keras.losses.Huber(delta=2.0), REGRESSOR),
    "custom function": (1, None, my_crossentropy, UNKNOWN),
    "custom Loss subclass": (1, None, MeanSquaredLogError(), UNKNOWN),
}


def one_head(units: int, activation: str | None, loss) -> keras.Model:
    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(units, activation=activation, name="out")]
    )
    model.compile(optimizer="sgd", loss=loss)
    return model


@pytest.mark.parametrize("case", list(CASES))
def test_the_head_map_says_what_the_compiled_loss_trains_for(case):
    units, activation, loss, expected = CASES[case]
    entry = preview_head_map(one_head(units, activation, loss))["out"]
    assert head_kind(entry) == expected
    assert (entry["task"], entry["binary"], entry["from_logits"]) == (
        expected.task,
        expected.binary,
        expected.from_logits,
    )


def test_fit_start_carries_the_kinds_and_the_probes_read_them():
    """Two heads, one a classifier on logits, one with a custom loss: fit_start says
    so, the built containers agree, and the probes' heads come from that head map."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((4,))
    outputs = {
        "is_up": keras.layers.Dense(1, name="is_up")(inputs),
        "level": keras.layers.Dense(1, name="level")(inputs),
    }
    model = keras.Model(inputs, outputs)
    model.compile(
        optimizer="sgd",
        loss={"is_up": keras.losses.BinaryCrossentropy(from_logits=True), "level": my_crossentropy},
    )
    x = np.random.default_rng(0).normal(size=(32, 4)).astype("float32")
    y = {"is_up": (x[:, :1] > 0).astype("float32"), "level": x[:, 1:2]}
    events = []
    model.fit(x, y, batch_size=16, epochs=1, verbose=0, callbacks=[KmonCallback(events.append, 0)])
    (start,) = [event for event in events if event.type == "fit_start"]
    assert head_kind(start.heads["is_up"]) == HeadKind(CLASSIFICATION, True, True)
    assert head_kind(start.heads["level"]) == UNKNOWN
    assert built_head_map(model) == start.heads
    assert heads_of(start.heads) == [
        Head("is_up", "binary_crossentropy", True, from_logits=True, binary=True),
        Head("level", "my_crossentropy", False),
    ]


@pytest.mark.parametrize(
    ("loss", "expected"),
    [
        ("binary_crossentropy", BINARY),
        ("sparse_categorical_crossentropy", CLASSIFIER),
        ("squared_hinge", CLASSIFIER),
        ("mse", REGRESSOR),
        ("huber_loss", REGRESSOR),
        ("my_loss", UNKNOWN),
        (None, UNKNOWN),
    ],
)
def test_older_logs_fall_back_to_the_loss_name(loss, expected):
    assert head_kind({"loss": loss, "weight": 1.0, "metrics": [], "loss_key": None}) == expected


def test_a_head_map_with_kinds_is_never_read_by_name():
    entry = {"loss": "binary_crossentropy", "task": None, "binary": False, "from_logits": False}
    assert head_kind(entry) == UNKNOWN


def test_the_heads_grid_names_a_head_by_its_kind_not_its_loss_name():
    known = {"loss": "mse", "task": REGRESSION, "binary": False, "from_logits": False}
    custom = {"loss": "my_mse", "task": None, "binary": False, "from_logits": False}
    heads = {
        "score": {**known, "weight": 1.0, "metrics": ["score_mae"], "loss_key": "score_loss"},
        "level": {**custom, "weight": 1.0, "metrics": [], "loss_key": "level_loss"},
        "old": {"loss": "mae", "weight": 1.0, "metrics": [], "loss_key": "old_loss"},
    }
    summary = heads_summary(HeadBoard(FitStart(fit=0, epochs=1, heads=heads)))
    assert "mae on 1 head: score; none on level, old (regression: mae)" in summary


def test_the_event_schema_reads_the_kind_fields():
    entry = {"loss": "mse", "task": REGRESSION, "binary": False, "from_logits": False}
    start = FitStart(fit=0, epochs=1, heads={"out": entry}).to_dict()
    assert event_from_dict(start).heads == {"out": entry}
    with pytest.raises(InvalidEvent):
        event_from_dict({**start, "heads": {"out": {**entry, "binary": "yes"}}})


class Forecaster(keras.Model):
    """Subclassed: built by fit's first step, so its head map comes after it."""

    def __init__(self):
        super().__init__()
        self.hidden = keras.layers.Dense(16, activation="tanh")
        self.forecast = keras.layers.Dense(1)

    def call(self, inputs):
        return self.forecast(self.hidden(inputs))


def test_a_subclassed_models_probes_wait_for_its_head_map():
    """No head map at fit start: the target checks and prediction probes run once the
    first step built it, on the head it names."""
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(1)
    x = rng.normal(2000, 30, size=(512, 6)).astype("float32")
    y = (x - 2000).sum(axis=1, keepdims=True) * 10 + 5000
    model = Forecaster()
    model.compile(optimizer="adam", loss="mse")
    events = []
    hook = FitHook(events.append, StopSignal(), probes=ProbeConfig(every=3, gradient_every=2))
    hook.install()
    try:
        model.fit(x, y, epochs=2, batch_size=32, verbose=0)
    finally:
        hook.uninstall()
    (start,) = [event for event in events if event.type == "fit_start"]
    assert start.heads is None
    raised = {(e.kind, e.subject): e for e in events if e.type == "alarm" and e.state == "raised"}
    assert "target output" in " ".join(raised[("unscaled_data", None)].evidence)
    assert raised[("prediction_variance", "output")].epoch <= 1
