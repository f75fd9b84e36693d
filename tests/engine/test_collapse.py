"""Collapse or not learning yet: low prediction spread alone is not a collapse. On
numbers (the rule), and on the issue's case, a real multi-head model whose balanced
binary head learns slowly: its spread stays under the threshold while its loss beats
the prior's entropy and improves, which is an info, never a warning."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from kmon.engine.alarms.collapse import CollapseRule, LossEvidence
from kmon.engine.alarms.kinds import (
    CLEARED,
    INFO,
    NOT_LEARNING_YET,
    PREDICTION_VARIANCE,
    RAISED,
)
from kmon.engine.alarms.messages import alarm_line
from kmon.engine.probes import ProbeConfig
from kmon.engine.run.fit_hook import FitHook
from kmon.engine.stop import StopSignal

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy")


def run(rule: CollapseRule, checks) -> list[tuple[int, str, str]]:
    """``checks``: (spread ratio, head loss or None, baseline, loss of the head's own
    mean prediction); returns (check, kind, transition) in order."""
    found = []
    for index, (ratio, loss, baseline, own) in enumerate(checks):
        evidence = LossEvidence(loss, baseline, own) if loss is not None else None
        for kind, transition in rule.update(ratio, evidence).transitions:
            found.append((index, kind, transition))
    return found


def test_low_spread_with_a_loss_stuck_at_the_constant_is_a_collapse():
    checks = [(0.01, 0.6932, 0.6931, 0.6932)] * 4
    assert run(CollapseRule(), checks) == [(2, PREDICTION_VARIANCE, RAISED)]


def test_a_constant_moving_towards_the_best_one_is_a_collapse():
    """The output bias learns the targets' mean: the loss gains on the baseline, but
    the head gains nothing from its inputs (its own mean prediction does as well)."""
    checks = [(0.01, 0.70 - 0.002 * i, 0.6931, 0.70 - 0.002 * i) for i in range(4)]
    assert run(CollapseRule(), checks) == [(2, PREDICTION_VARIANCE, RAISED)]


def test_the_same_prediction_for_every_input_is_a_collapse_whatever_the_loss_does():
    """The unscaled LSTM: a spread of exactly 0."""
    checks = [(0.0, 1.27e7 - 1e5 * i, 4.4e5, 1.3e7) for i in range(4)]
    assert run(CollapseRule(), checks) == [(2, PREDICTION_VARIANCE, RAISED)]


def test_low_spread_with_a_loss_gaining_from_the_inputs_is_not_learning_yet():
    """The issue's head: 0.690 against 0.693, falling, below its own mean's loss."""
    checks = [(0.043, 0.6925 - 0.0005 * i, 0.6931, 0.6931) for i in range(6)]
    assert run(CollapseRule(), checks) == [(2, NOT_LEARNING_YET, RAISED)]


def test_worse_than_the_constant_but_gaining_from_the_inputs_is_not_a_collapse():
    """Right after initialization a head is a little worse than the prior (its mean
    is off), and learning from its inputs."""
    checks = [(0.015, 0.6951 - 0.001 * i, 0.6931, 0.6971 - 0.001 * i) for i in range(5)]
    assert [kind for _, kind, _ in run(CollapseRule(), checks)] == [NOT_LEARNING_YET]


def test_not_learning_yet_upgrades_to_a_collapse_once_the_evidence_arrives():
    gaining = [(0.03, 0.690 - 0.001 * i, 0.6931, 0.6931) for i in range(3)]
    stalled = [(0.03, 0.6925, 0.6931, 0.6925)] * 6
    assert run(CollapseRule(), gaining + stalled) == [
        (2, NOT_LEARNING_YET, RAISED),
        # Three checks in a row without a gain: a collapse after all.
        (5, NOT_LEARNING_YET, CLEARED),
        (5, PREDICTION_VARIANCE, RAISED),
    ]


def test_spread_back_above_clear_clears_either():
    stuck = [(0.01, 0.6932, 0.6931, 0.6932)] * 3
    slow = [(0.03, 0.690 - 0.001 * i, 0.6931, 0.6931) for i in range(3)]
    for first in (stuck, slow):
        found = run(CollapseRule(), first + [(0.5, 0.5, 0.6931, 0.6931)] * 2)
        assert [t for _, _, t in found] == [RAISED, CLEARED]
        assert found[0][1] == found[1][1]


def test_without_a_baseline_the_spread_decides_alone_as_before():
    assert run(CollapseRule(), [(0.01, None, None, None)] * 3) == [(2, PREDICTION_VARIANCE, RAISED)]


def test_a_rising_spread_counts_as_neither():
    checks = [(0.001 * 2**i, 0.6932, 0.6931, 0.6932) for i in range(6)]
    assert run(CollapseRule(), checks) == []


# -- the case, on a real model ------------------------------------------------------------


def slow_head_model():
    """Three heads on one trunk: a regression and a 4-class head learn fast; the
    balanced binary ``flag`` has a weak signal and starts near zero."""
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2000, 16)).astype("float32")
    value = (x @ rng.normal(size=(16, 1)) / 4).astype("float32")
    kind = (x @ rng.normal(size=(16, 4))).argmax(axis=1)
    flag = ((x @ rng.normal(size=(16, 1))) + 12 * rng.normal(size=(2000, 1)) > 0).astype("float32")
    inputs = keras.Input((16,))
    hidden = keras.layers.Dense(32, activation="relu")(inputs)
    small = keras.initializers.RandomNormal(stddev=0.01)
    outputs = {
        "flag": keras.layers.Dense(1, "sigmoid", name="flag", kernel_initializer=small)(hidden),
        "value": keras.layers.Dense(1, name="value")(hidden),
        "kind": keras.layers.Dense(4, "softmax", name="kind")(hidden),
    }
    model = keras.Model(inputs, outputs)
    model.compile(
        optimizer="adam",
        loss={"flag": "binary_crossentropy", "value": "mse", "kind": "sparse_categorical_crossentropy"},
        metrics={"flag": ["accuracy"]},
    )
    return model, x, {"flag": flag, "value": value, "kind": kind}


def test_a_slowly_learning_binary_head_gets_an_info_not_a_warning():
    model, x, y = slow_head_model()
    events = []
    hook = FitHook(events.append, StopSignal(), probes=ProbeConfig(every=5, gradient_every=10))
    hook.install()
    try:
        history = model.fit(x, y, epochs=3, batch_size=32, verbose=0)
    finally:
        hook.uninstall()
    # The numbers: just under the prior's entropy, accuracy rising.
    flag_loss = history.history["flag_loss"]
    assert 0.66 < flag_loss[-1] < flag_loss[0] < 0.6931
    assert history.history["flag_accuracy"][-1] > history.history["flag_accuracy"][0]
    alarms = [e for e in events if e.type == "alarm"]
    assert not [a for a in alarms if a.kind == PREDICTION_VARIANCE]
    (info,) = [a for a in alarms if a.kind == NOT_LEARNING_YET]
    assert (info.state, info.severity, info.subject) == (RAISED, INFO, "flag")
    evidence = info.evidence
    # The numbers the decision used: spread under the threshold, loss against the
    # constant on the same probe rows, and its trend.
    assert evidence["ratio"] < evidence["threshold"] == 0.05
    assert evidence["baseline"] == pytest.approx(np.log(2), abs=0.01)
    assert evidence["trend_pct"] > 0 and evidence["input_gain_pct"] > 0
    assert "not learning yet" in info.message and "best constant" in info.message
    assert alarm_line(info, 1).startswith("info raised: not_learning_yet flag [info]")
    assert not [a for a in alarms if a.severity != INFO]
