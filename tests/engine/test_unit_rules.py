"""The dead-units and class-collapse decisions on numbers alone: the classes a head
predicts against its labels, the rules' thresholds and hysteresis, their words and
advice. No Keras here: test_dead_units.py and test_class_collapse.py train real
models."""

from __future__ import annotations

import numpy as np
import pytest

from kmon.engine.alarms.advice import ADVICE
from kmon.engine.alarms.class_shares import ClassShares, class_shares
from kmon.engine.alarms.kinds import CLASS_COLLAPSE, CLEARED, DEAD_UNITS, RAISED
from kmon.engine.alarms.probe_heads import Head
from kmon.engine.alarms.rules import HIGH, HOLD, LOW, MID
from kmon.engine.alarms.unit_messages import class_collapse_message, dead_units_message
from kmon.engine.alarms.unit_rules import ClassCollapseRule, DeadUnitsRule

BINARY = Head("out", "binary_crossentropy", True, binary=True)
SOFTMAX = Head("out", "sparse_categorical_crossentropy", True)

# -- which classes a head predicts ---------------------------------------------------------


def test_binary_probabilities_split_at_one_half_and_logits_at_zero():
    pred = np.array([[0.2], [0.7], [0.4], [0.45]])
    labels = np.array([0, 1, 1, 0])
    shares = class_shares(BINARY, pred, labels)
    assert (shares.predicted, shares.predicted_share) == (0, 0.75)
    assert shares.labels == [(0, 0.5), (1, 0.5)] and shares.samples == 4
    logits = Head("out", "binary_crossentropy", True, from_logits=True, binary=True)
    shares = class_shares(logits, np.array([[-0.2], [0.3], [0.1], [2.0]]), labels)
    assert (shares.predicted, shares.predicted_share) == (1, 0.75)


def test_sparse_and_one_hot_labels_give_the_same_shares():
    pred = np.array([[0.8, 0.1, 0.1], [0.6, 0.3, 0.1], [0.2, 0.7, 0.1], [0.5, 0.2, 0.3]])
    sparse = np.array([0, 0, 1, 2])
    one_hot = np.eye(3)[sparse]
    a = class_shares(SOFTMAX, pred, sparse)
    b = class_shares(Head("out", "categorical_crossentropy", True), pred, one_hot)
    assert a == b
    assert (a.predicted, a.predicted_share) == (0, 0.75)
    assert a.labels == [(0, 0.5), (1, 0.25), (2, 0.25)]
    assert class_shares(SOFTMAX, pred, sparse[:, None]) == a  # labels of shape (n, 1)


def test_sequence_outputs_count_every_time_step():
    pred = np.zeros((2, 3, 2))
    pred[..., 0] = 1.0  # class 0 at every step
    labels = np.array([[0, 1, 0], [0, 0, 0]])
    shares = class_shares(SOFTMAX, pred, labels)
    assert shares.samples == 6 and shares.predicted_share == 1.0
    assert shares.labels == [(0, 5 / 6), (1, 1 / 6)]


def test_hinge_targets_are_minus_one_or_one():
    hinge = Head("out", "hinge", True)
    shares = class_shares(hinge, np.array([[-0.5], [-0.1], [0.4]]), np.array([-1, 1, 1]))
    assert (shares.predicted, shares.predicted_share) == (0, 2 / 3)
    assert shares.labels == [(1, 2 / 3), (0, 1 / 3)]


@pytest.mark.parametrize(
    "head, pred, labels",
    [
        (
            Head("tags", "binary_crossentropy", True, binary=True),
            np.zeros((4, 3)),
            np.zeros((4, 3)),
        ),
        (Head("value", "mse", False), np.zeros((4, 1)), np.zeros((4, 1))),
        (SOFTMAX, np.zeros((4, 3)), np.zeros((5,))),
        (BINARY, np.zeros((4, 1)), None),
        (BINARY, np.array([[np.nan], [0.2], [0.1]]), np.array([0, 1, 0])),
    ],
    ids=["multi-label", "regression", "shapes-differ", "no-labels", "nan-outputs"],
)
def test_heads_without_one_class_per_sample_are_not_read(head, pred, labels):
    assert class_shares(head, pred, labels) is None


# -- class collapse ------------------------------------------------------------------------


def shares(predicted_share, labels, predicted=0, samples=256):
    return ClassShares(predicted, predicted_share, labels, samples)


IMBALANCED = [(0, 0.85), (1, 0.15)]


def test_collapse_onto_the_majority_raises_after_three_checks_and_clears_after_two():
    rule = ClassCollapseRule()
    assert [rule.update(shares(0.98, IMBALANCED)) for _ in range(3)] == [None, None, RAISED]
    # 85/15 labels: a head that learned them predicts class 0 for about 85%, which is
    # under the midpoint of 0.95 and 0.85.
    assert rule.clear_below(shares(0.86, IMBALANCED)) == pytest.approx(0.9)
    assert rule.update(shares(0.86, IMBALANCED)) is None
    assert rule.update(shares(0.86, IMBALANCED)) == CLEARED


def test_clear_threshold_follows_the_labels_top_share():
    rule = ClassCollapseRule()
    assert rule.clear_below(shares(0.5, [(0, 0.9), (1, 0.1)])) == pytest.approx(0.925)
    assert rule.verdict(shares(0.92, [(0, 0.9), (1, 0.1)])) == HIGH
    assert rule.verdict(shares(0.93, [(0, 0.9), (1, 0.1)])) == MID
    assert rule.clear_below(shares(0.5, [(0, 0.7), (1, 0.3)])) == 0.9


@pytest.mark.parametrize(
    "labels, why",
    [
        ([(0, 0.93), (1, 0.07)], "one class holds nearly all labels: predicting it is right"),
        ([(0, 0.55), (1, 0.45)], "balanced labels: prediction_variance's case"),
        ([(0, 0.4), (1, 0.3), (2, 0.3)], "three about equal classes"),
    ],
)
def test_labels_that_do_not_make_a_majority_collapse_are_not_judged(labels, why):
    rule = ClassCollapseRule()
    assert rule.verdict(shares(1.0, labels)) == HOLD, why


def test_too_few_samples_are_not_judged():
    assert ClassCollapseRule().verdict(shares(1.0, IMBALANCED, samples=10)) == HOLD


def test_predicting_a_minority_class_everywhere_is_not_this_collapse():
    rule = ClassCollapseRule()
    assert rule.verdict(shares(0.97, IMBALANCED, predicted=1)) == MID


def test_class_collapse_evidence_and_message():
    rule = ClassCollapseRule()
    measured = shares(0.98, [(0, 0.85), (1, 0.12), (2, 0.03)])
    evidence = rule.evidence("out", measured, RAISED)
    assert evidence["labels"] == ["0: 85%", "1: 12%", "2: 3%"]
    assert (evidence["label_share"], evidence["checks"]) == (0.85, 3)
    message = class_collapse_message(RAISED, evidence)
    assert message.startswith("head out: predicts class 0 for 98% of the 256 probe samples")
    assert "0: 85%, 1: 12%, 2: 3%" in message and "at least 95% for 3 checks" in message
    assert "class 0 for 98%" in class_collapse_message(CLEARED, evidence)


# -- dead units ----------------------------------------------------------------------------


def test_dead_units_raise_at_three_quarters_after_three_checks():
    rule = DeadUnitsRule()
    assert rule.verdict(24 / 32) == LOW
    assert rule.verdict(23 / 32) == MID
    assert rule.verdict(19 / 32) == HIGH
    assert [rule.update(30, 32) for _ in range(3)] == [None, None, RAISED]
    assert [rule.update(20, 32), rule.update(4, 32), rule.update(4, 32)] == [None, None, CLEARED]


def test_a_layer_without_units_is_not_counted():
    rule = DeadUnitsRule()
    rule.update(3, 4)
    assert rule.update(0, 0) is None and rule.counter.low == 1


def test_dead_units_message():
    evidence = {
        "layer": "hidden",
        "activation": "relu",
        "dead": 30,
        "units": 32,
        "fraction": 30 / 32,
        "threshold": 0.75,
        "checks": 3,
        "probe_samples": 256,
    }
    assert dead_units_message(RAISED, evidence) == (
        "layer hidden: 30 of 32 relu units (94%) output exactly 0 for all 256 probe "
        "samples (at least 75% for 3 checks in a row): they pass no signal and get no gradient"
    )
    assert "come back to life" in dead_units_message(CLEARED, evidence)


def test_both_kinds_have_advice():
    for kind in (DEAD_UNITS, CLASS_COLLAPSE):
        assert ADVICE[kind].title and ADVICE[kind].causes and ADVICE[kind].fixes
    assert "leaky_relu" in " ".join(ADVICE[DEAD_UNITS].fixes)
    assert "class_weight" in " ".join(ADVICE[CLASS_COLLAPSE].fixes)
