"""``no_learning``: on numbers (the rule, epoch by epoch), and on real runs where
nothing can be learned (frozen weights, a learning rate of 0 or far too small,
targets shuffled against their inputs), each next to its fix from the alarm's
advice, run to see that the alarm clears or never fires."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from kmon.engine.alarms.advice import ADVICE
from kmon.engine.alarms.kinds import CLEARED, NO_LEARNING, RAISED
from kmon.engine.alarms.learning import LearningRule
from kmon.engine.probes import ProbeConfig
from kmon.engine.run.fit_hook import FitHook
from kmon.engine.stop import StopSignal

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy")


def epochs(rule: LearningRule, losses: list[list[float]], **kwargs) -> list[str | None]:
    """Each epoch's batch losses through the rule; its transition per epoch."""
    found = []
    for batch_losses in losses:
        rule.epoch_begin()
        total = 0.0
        for index, value in enumerate(batch_losses):
            total += value
            rule.batch(index, total / (index + 1))
        found.append(rule.epoch_end(total / len(batch_losses), **kwargs)[0])
    return found


def flat(level: float, steps: int = 20) -> list[float]:
    return [level] * steps


def test_a_loss_stuck_at_the_constant_raises_in_the_second_epoch():
    rule = LearningRule(baseline=0.693, steps=20)
    assert epochs(rule, [flat(0.70), flat(0.694)]) == [None, RAISED]


def test_a_model_that_cannot_learn_raises_after_its_first_epoch():
    for kwargs in ({"trainable": 0}, {"learning_rate": 0.0}):
        assert epochs(LearningRule(baseline=0.693, steps=20), [flat(0.9)], **kwargs) == [RAISED]
    # Without a baseline (a custom loss) too.
    assert epochs(LearningRule(steps=20), [flat(0.9)], trainable=0) == [RAISED]


def test_worse_than_a_constant_and_not_moving_raises():
    """A learning rate far too small: the epoch's mean loss moves by less than 0.1%."""
    rule = LearningRule(baseline=2.24, steps=20)
    assert epochs(rule, [flat(2.3428), flat(2.3427)]) == [None, RAISED]


def test_slow_learners_stay_silent():
    """Worse than a constant but improving (a small learning rate from a bad start),
    and beating the constant while creeping down (0.690 against 0.693)."""
    above = LearningRule(baseline=2.24, steps=20)
    assert epochs(above, [flat(2.595), flat(2.576), flat(2.558)]) == [None] * 3
    creeping = LearningRule(baseline=0.6930, steps=20)
    assert epochs(creeping, [flat(0.6923), flat(0.6906), flat(0.6890)]) == [None] * 3


def test_the_first_epoch_compares_its_halves_and_a_model_learning_clears_it():
    """A model that reaches the constant in its first half and stays: the second half
    is the level; once it improves for two epochs the alarm clears."""
    rule = LearningRule(baseline=0.693, steps=20)
    first = [0.9] * 10 + [0.6935] * 10
    assert epochs(rule, [first, flat(0.6934), flat(0.65), flat(0.60)]) == [
        None,
        RAISED,
        None,
        CLEARED,
    ]


def test_halves_without_a_known_step_count():
    rule = LearningRule(baseline=0.693)
    assert epochs(rule, [[0.9] * 16 + [0.6935] * 20, flat(0.6934, 36)]) == [None, RAISED]
    _, evidence = LearningRule(baseline=0.693).epoch_end(0.7)
    assert evidence == {"loss": 0.7, "epoch_loss": 0.7, "baseline": 0.693, "better_pct": pytest.approx(-1.01, abs=0.01)}


# -- real runs: each cause, and its fix ---------------------------------------------------------


def train(model, x, y, *, epochs=2, hook=None, events=None):
    events = [] if events is None else events
    own = hook is None
    hook = hook or FitHook(events.append, StopSignal(), probes=ProbeConfig(every=10, gradient_every=10))
    if own:
        hook.install()
    try:
        model.fit(x, y, epochs=epochs, batch_size=32, verbose=0)
    finally:
        if own:
            hook.uninstall()
    return [e for e in events if e.type == "alarm" and e.kind == NO_LEARNING]


def regression(n=1024, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 8)).astype("float32")
    y = (x @ rng.normal(size=(8, 1)) + 0.1 * rng.normal(size=(n, 1))).astype("float32")
    return x, (y - y.mean()) / y.std()


def mlp(units=16):
    keras.utils.set_random_seed(0)
    return keras.Sequential(
        [keras.Input((8,)), keras.layers.Dense(units, activation="relu"), keras.layers.Dense(1)]
    )


def test_frozen_weights_raise_and_unfreezing_with_compile_clears():
    x, y = regression()
    model = mlp()
    model.trainable = False
    model.compile(optimizer="adam", loss="mse")
    events = []
    hook = FitHook(events.append, StopSignal(), probes=ProbeConfig(every=10, gradient_every=10))
    hook.install()
    try:
        (raised,) = train(model, x, y, epochs=1, hook=hook, events=events)
        assert raised.state == RAISED and raised.epoch == 0
        assert raised.evidence["trainable_weights"] == 0
        assert "no trainable weights" in raised.message
        # The advice's fix: trainable again, then compile() again.
        assert "compile() again" in " ".join(ADVICE[NO_LEARNING].fixes)
        model.trainable = True
        model.compile(optimizer="adam", loss="mse")
        alarms = train(model, x, y, epochs=3, hook=hook, events=events)
    finally:
        hook.uninstall()
    assert [a.state for a in alarms] == [RAISED, CLEARED]
    assert alarms[1].fit == 1


class Penalized(keras.layers.Layer):
    """An activity penalty through ``add_loss()``, as the keras-io guide writes one."""

    def call(self, inputs):
        self.add_loss(0.5 * keras.ops.mean(keras.ops.square(inputs)))
        return inputs


class PenalizedMLP(keras.Model):
    def __init__(self):
        super().__init__()
        self.hidden = keras.layers.Dense(16, activation="relu")
        self.penalty = Penalized()
        self.out = keras.layers.Dense(1)

    def call(self, x):
        return self.out(self.penalty(self.hidden(x)))


def test_a_loss_with_add_loss_is_not_compared_with_the_constant():
    """The logged loss adds the penalty, which the constant's loss leaves out: the
    alarm says the loss does not fall, not how it stands against the constant (it
    compared them in a subclassed model, whose add_loss() shows after a step, and in
    a functional one, whose data checks come before any)."""
    x, y = regression()
    inputs = keras.Input((8,))
    functional = keras.Model(inputs, keras.layers.Dense(1)(Penalized()(keras.layers.Dense(16)(inputs))))
    for model in (PenalizedMLP(), functional):
        model.compile(optimizer=keras.optimizers.SGD(0.0), loss="mse")
        (raised,) = train(model, x, y, epochs=1)
        assert "learning rate is 0" in raised.message
        assert "baseline" not in raised.evidence and "constant" not in raised.message


def test_the_same_model_trainable_raises_nothing():
    x, y = regression()
    model = mlp()
    model.compile(optimizer="adam", loss="mse")
    assert train(model, x, y, epochs=3) == []


def test_a_learning_rate_of_zero_raises_and_a_working_one_clears():
    x, y = regression()
    model = mlp()
    model.compile(optimizer=keras.optimizers.Adam(0.0), loss="mse")
    events = []
    hook = FitHook(events.append, StopSignal(), probes=ProbeConfig(every=10, gradient_every=10))
    hook.install()
    try:
        (raised,) = train(model, x, y, epochs=1, hook=hook, events=events)
        assert raised.evidence["learning_rate"] == 0 and "learning rate is 0" in raised.message
        model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
        alarms = train(model, x, y, epochs=3, hook=hook, events=events)
    finally:
        hook.uninstall()
    assert [a.state for a in alarms] == [RAISED, CLEARED]


def test_a_learning_rate_far_too_small_raises_in_the_second_epoch():
    x, y = regression()
    model = mlp()
    model.compile(optimizer=keras.optimizers.SGD(1e-7), loss="mse")
    (raised,) = train(model, x, y, epochs=2)
    assert raised.epoch == 1
    # A random start may beat the constant a little, and stays there.
    assert raised.evidence["epoch_change_pct"] < 0.1 and raised.evidence["better_pct"] < 10


def binary(shuffled: bool):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8000, 16)).astype("float32")
    y = (x @ rng.normal(size=(16, 1)) > 0).astype("float32")
    if shuffled:
        y = y[rng.permutation(len(y))]
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((16,)),
            keras.layers.Dense(16, activation="relu"),
            keras.layers.Dense(16, activation="relu"),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    model.compile(optimizer="adam", loss="binary_crossentropy")
    return model, x, y


def test_targets_shuffled_against_their_inputs_raise_and_aligned_ones_do_not():
    model, x, y = binary(shuffled=True)
    (raised,) = train(model, x, y, epochs=2)
    assert raised.epoch == 1
    # At the label prior's entropy: the model learned the prior and nothing more.
    assert raised.evidence["baseline"] == pytest.approx(np.log(2), abs=0.01)
    assert abs(raised.evidence["better_pct"]) < 1
    model, x, y = binary(shuffled=False)
    assert train(model, x, y, epochs=2) == []


def test_a_short_epoch_at_the_constant_needs_a_second_one():
    """tests/data/real/tf_data_many_epochs.py: 2-batch epochs sat at the constant's
    level for one epoch, then learned. One short epoch is no evidence; two are."""
    rule = LearningRule(baseline=0.693, steps=2)
    assert epochs(rule, [flat(0.70, 2), flat(0.694, 2), flat(0.60, 2)]) == [None, None, None]
    rule = LearningRule(baseline=0.693, steps=2)
    assert epochs(rule, [flat(0.70, 2), flat(0.694, 2), flat(0.6935, 2)]) == [None, None, RAISED]
