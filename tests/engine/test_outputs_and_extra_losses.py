"""``fit_start.outputs`` names a model's outputs as the head map does, for every way
of building a model, and ``extra_losses`` names ``add_loss()`` once the first step
showed who calls it. What Keras 3.15 reports, checked here: a ``Sequential`` model
has no ``output_names`` (only ``outputs``, after it is built), a subclassed model
neither, and ``model.losses`` holds ``add_loss()`` terms only once ``call()`` ran."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from kmon.engine.training.callback import KmonCallback
from kmon.engine.training.heads import NO_COMPILED_LOSS, SUBCLASSED_OUTPUT

SAMPLES, BATCH = 32, 16


def fit_with_kmon(model, y=None):
    x = np.random.default_rng(0).normal(size=(SAMPLES, 4)).astype("float32")
    y = x[:, :1] * 2.0 if y is None else y
    events = []
    callback = KmonCallback(events.append, 0, samples=SAMPLES, batch_size=BATCH)
    model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0, callbacks=[callback])
    return events


def only(events, kind):
    (event,) = [event for event in events if event.type == kind]
    return event


class Regressor(keras.Model):
    """Subclassed: its output layer is not its last attribute."""

    def __init__(self):
        super().__init__()
        self.score = keras.layers.Dense(1, name="score")
        self.hidden = keras.layers.Dense(3, name="hidden")

    def call(self, x):
        return self.score(self.hidden(x))


class Penalized(keras.Model):
    """Its whole loss comes from add_loss(): compiled with no loss."""

    def __init__(self):
        super().__init__(name="penalized")
        self.dense = keras.layers.Dense(1)

    def call(self, x):
        out = self.dense(x)
        self.add_loss(keras.ops.mean(keras.ops.square(out - 1.0)))
        return out


class ActivityLoss(keras.layers.Layer):
    def call(self, x):
        self.add_loss(0.01 * keras.ops.sum(keras.ops.square(x)))
        return x


def sequential():
    return keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(3), keras.layers.Dense(1, name="score")]
    )


def functional():
    inputs = keras.Input((4,))
    return keras.Model(inputs, keras.layers.Dense(1, name="score")(inputs))


@pytest.mark.parametrize(
    ("build", "outputs", "head"),
    [
        (sequential, ["score"], "score"),
        (functional, ["score"], "score"),
        # Unknown before the first call; the head map then names it generically.
        (Regressor, [], SUBCLASSED_OUTPUT),
    ],
)
def test_outputs_name_the_heads(build, outputs, head):
    model = build()
    model.compile("sgd", "mse", metrics=["mae"])
    events = fit_with_kmon(model)
    start = only(events, "fit_start")
    assert start.outputs == outputs
    heads = start.heads or only(events, "value_kinds").heads
    assert list(heads) == [head]
    assert heads[head]["metrics"] == ["mae"]


def test_a_loss_from_add_loss_alone_is_named():
    model = Penalized()
    model.compile("sgd")
    events = fit_with_kmon(model)
    start, kinds = only(events, "fit_start"), only(events, "value_kinds")
    assert start.extra_losses == [NO_COMPILED_LOSS]
    assert kinds.extra_losses == ["penalized.add_loss()"]
    # Keras's own train_step: the add_loss() total is weighted by samples.
    assert kinds.kinds == {"loss": "mean"}


def test_a_layers_add_loss_is_named_next_to_the_compiled_loss():
    inputs = keras.Input((4,))
    hidden = ActivityLoss(name="penalty")(keras.layers.Dense(3)(inputs))
    model = keras.Model(inputs, keras.layers.Dense(1)(hidden))
    model.compile("sgd", "mse")
    events = fit_with_kmon(model)
    assert only(events, "fit_start").extra_losses == []
    assert only(events, "value_kinds").extra_losses == ["penalty.add_loss()"]


def test_regularizers_alone_add_no_add_loss_entry():
    inputs = keras.Input((4,))
    layer = keras.layers.Dense(1, kernel_regularizer="l2", activity_regularizer="l1", name="out")
    model = keras.Model(inputs, layer(inputs))
    model.compile("sgd", "mse")
    events = fit_with_kmon(model)
    assert only(events, "fit_start").extra_losses == [
        "out.kernel_regularizer",
        "out.activity_regularizer",
    ]
    # An activity regularizer adds its penalty through add_loss(): not named twice.
    assert only(events, "value_kinds").extra_losses is None
