"""Alarm decisions on numbers alone: counters and hysteresis, the prediction-spread
and gradient rules, and the alarm book that turns them into events. No Keras here:
tests/engine/test_probes.py trains real models."""

from __future__ import annotations

import math

import numpy as np
import pytest

from kmon.engine.alarms.advice import ADVICE
from kmon.engine.alarms.book import AlarmBook
from kmon.engine.alarms.kinds import (
    CLEARED,
    ENDED,
    EXPLODING_GRADIENTS,
    RAISED,
    VANISHING_GRADIENTS,
)
from kmon.engine.alarms.messages import alarm_line
from kmon.engine.alarms.rules import HIGH, HOLD, LOW, MID, GradientRule, Hysteresis, VarianceRule
from kmon.engine.events import event_from_json
from kmon.engine.probes import Head, spread

# -- counters ------------------------------------------------------------------------------


def test_hysteresis_raises_after_consecutive_lows_and_clears_after_consecutive_highs():
    counter = Hysteresis(raise_after=3, clear_after=2)
    assert [counter.update(v) for v in (LOW, LOW, MID, LOW, LOW)] == [None] * 5
    assert counter.update(LOW) == RAISED
    assert counter.update(LOW) is None  # already raised: no repeat
    assert counter.update(HIGH) is None
    assert counter.update(MID) is None  # the band between: not recovered yet
    assert counter.update(HIGH) is None
    assert counter.update(HIGH) == CLEARED
    assert not counter.active


def test_hold_changes_nothing():
    counter = Hysteresis(raise_after=2)
    counter.update(LOW)
    counter.update(HOLD)
    assert counter.update(LOW) == RAISED


# -- prediction spread ---------------------------------------------------------------------


def transitions(rule: VarianceRule, ratios) -> list[tuple[int, str]]:
    return [(i, t) for i, r in enumerate(ratios) if (t := rule.update(r)) is not None]


def test_a_collapsed_head_raises_on_the_third_low_check():
    assert transitions(VarianceRule(), [0.0, 1e-10, 0.0, 2e-10]) == [(2, RAISED)]


def test_a_head_that_starts_near_zero_and_grows_does_not_raise():
    """A healthy model whose output layer starts at zero spreads its predictions
    within a few checks; a rising ratio is not a collapse."""
    assert transitions(VarianceRule(), [0.0, 0.004, 0.008, 0.02, 0.045, 0.09, 0.3]) == []


def test_a_slowly_stuck_head_still_raises():
    """Noise around a small ratio is not "rising"."""
    assert transitions(VarianceRule(), [0.03, 0.031, 0.029, 0.03]) == [(2, RAISED)]


def test_recovery_clears_with_hysteresis():
    rule = VarianceRule()
    ratios = [0.0, 0.0, 0.0, 0.07, 0.2, 0.08, 0.2, 0.3, 0.02]
    # 0.07 and 0.08 are above the raise threshold but under the clear threshold.
    assert transitions(rule, ratios) == [(2, RAISED), (7, CLEARED)]


def test_non_finite_ratio_is_not_counted():
    assert transitions(VarianceRule(), [0.0, math.nan, 0.0, math.nan, 0.0]) == [(4, RAISED)]


def test_regression_spread_is_the_std_ratio():
    rng = np.random.default_rng(0)
    target = rng.normal(10, 5, size=(200, 1))
    measured = spread(Head("out", "mse", False), 0.5 * target, target)
    assert measured.ratio == pytest.approx(0.5)
    assert measured.target_std == pytest.approx(target.std())
    assert not measured.constant_target


def test_sequence_outputs_spread_over_samples_and_time():
    rng = np.random.default_rng(0)
    target = rng.normal(size=(50, 20, 2))
    constant = np.ones_like(target) * 3.0
    assert spread(Head("seq", "mse", False), constant, target).ratio == 0.0
    assert spread(Head("seq", "mse", False), target, target).ratio == pytest.approx(1.0)


def test_constant_targets_are_reported_not_judged():
    target = np.full((100, 1), 7.0)
    measured = spread(Head("out", "mse", False), np.zeros((100, 1)), target)
    assert measured.constant_target and math.isnan(measured.ratio)


def test_shape_mismatch_gives_no_measure():
    assert spread(Head("out", "mse", False), np.zeros((10, 3)), np.zeros((10, 2))) is None


def test_classifier_spread_is_in_log_probability_space():
    """Probabilities of a 100-class softmax vary by ~1/100 at initialization even in a
    healthy model; their logarithms vary as much as the logits do."""
    rng = np.random.default_rng(0)
    logits = rng.normal(scale=0.5, size=(256, 100))
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    labels = rng.integers(0, 100, size=256)
    head = Head("cls", "sparse_categorical_crossentropy", True)
    healthy = spread(head, probs, labels)
    assert probs.std(axis=0).mean() < 0.01  # what a probability-space ratio would see
    assert healthy.ratio == pytest.approx(0.5, rel=0.1)
    collapsed = spread(head, np.tile(probs.mean(axis=0), (256, 1)), labels)
    assert collapsed.ratio < 1e-6
    logits_head = Head("cls", "sparse_categorical_crossentropy", True, from_logits=True)
    assert spread(logits_head, logits, labels).ratio == pytest.approx(0.5, rel=0.1)


def test_single_class_targets_are_constant():
    head = Head("cls", "binary_crossentropy", True, binary=True)
    measured = spread(head, np.full((64, 1), 0.3), np.ones((64, 1)))
    assert measured.constant_target


# -- gradients -------------------------------------------------------------------------------


def test_vanishing_when_the_first_layer_gets_orders_of_magnitude_less():
    rule = GradientRule()
    norms = [("lstm", 0.0), ("dense", 8000.0)]
    first = rule.check(norms, loss=1e7)
    assert first[VANISHING_GRADIENTS][0] is None  # one check is not a trend
    second = rule.check(norms, loss=1e7)
    transition, evidence = second[VANISHING_GRADIENTS]
    assert transition == RAISED
    assert evidence["first_layer"] == "lstm" and evidence["first_to_last"] == 0.0
    healthy = [("lstm", 0.8), ("dense", 0.4)]
    assert rule.check(healthy, 0.1)[VANISHING_GRADIENTS][0] is None
    assert rule.check(healthy, 0.1)[VANISHING_GRADIENTS][0] == CLEARED


def test_all_near_zero_vanishes_only_while_the_loss_is_not():
    stuck = GradientRule()
    for _ in range(2):
        result = stuck.check([("a", 1e-9), ("b", 1e-9)], loss=3.0)
    assert result[VANISHING_GRADIENTS][0] == RAISED
    assert result[VANISHING_GRADIENTS][1]["all_near_zero"]
    converged = GradientRule()
    for _ in range(3):
        result = converged.check([("a", 1e-9), ("b", 1e-9)], loss=1e-7)
    assert result[VANISHING_GRADIENTS][0] is None


def test_exploding_on_growth_since_the_fit_started():
    rule = GradientRule()
    for total in (2.0, 5.0, 40.0):
        assert rule.check([("a", total)], 1.0)[EXPLODING_GRADIENTS][0] is None
    assert rule.check([("a", 400.0)], 1.0)[EXPLODING_GRADIENTS][0] is None  # 200x: first
    transition, evidence = rule.check([("a", 5000.0)], 1.0)[EXPLODING_GRADIENTS]
    assert transition == RAISED and evidence["growth"] == pytest.approx(2500)


def test_steady_large_gradients_are_not_exploding():
    """Unscaled targets give large but steady gradients: unscaled_data says why."""
    rule = GradientRule()
    for _ in range(5):
        assert rule.check([("a", 9000.0)], 1e7)[EXPLODING_GRADIENTS][0] is None


def test_non_finite_gradients_explode_at_once():
    rule = GradientRule()
    transition, evidence = rule.check([("a", 1.0), ("b", math.nan)], math.nan)[EXPLODING_GRADIENTS]
    assert transition == RAISED
    assert evidence["nonfinite_layers"] == ["b"]


# -- the book and the event ------------------------------------------------------------------


def test_book_emits_transitions_only():
    events = []
    book = AlarmBook(events.append)
    assert book.raise_("nan_loss", "loss is nan", {"loss": math.nan}, severity="error", fit=0)
    assert not book.raise_("nan_loss", "again", {}, fit=0)
    assert book.raise_("prediction_variance", "a", {"ratio": 0.0}, subject="a", epoch=1, step=5)
    assert book.raise_("prediction_variance", "b", {"ratio": 0.0}, subject="b")
    assert book.clear("prediction_variance", "a ok", {"ratio": 0.5}, subject="a")
    assert not book.clear("prediction_variance", "a ok", {}, subject="a")
    assert [(e.kind, e.subject, e.state) for e in events] == [
        ("nan_loss", None, "raised"),
        ("prediction_variance", "a", "raised"),
        ("prediction_variance", "b", "raised"),
        ("prediction_variance", "a", "cleared"),
    ]
    back = event_from_json(events[0].to_json())
    assert back.severity == "error" and math.isnan(back.evidence["loss"])
    assert events[1].epoch == 1 and events[1].step == 5


def test_book_ends_every_active_alarm_for_another_model():
    events = []
    book = AlarmBook(events.append)
    book.raise_("unscaled_data", "raw", {}, fit=0)
    book.raise_("prediction_variance", "same", {}, subject="out", fit=1, epoch=0, step=3)
    book.clear("unscaled_data", "ok", {}, fit=1)
    book.raise_("nan_loss", "nan", {}, severity="error", fit=1, epoch=0, step=4)
    assert book.end_all(fit=1, next_fit=2, next_model="resnet") == 2
    assert book.active == {} and book.end_all(fit=2, next_fit=3, next_model=None) == 0
    ended = [e for e in events if e.state == ENDED]
    assert [(e.kind, e.subject, e.severity) for e in ended] == [
        ("prediction_variance", "out", "warning"),
        ("nan_loss", None, "error"),
    ]
    for event in ended:
        assert (event.fit, event.epoch, event.step) == (1, None, None)
        assert event.message == "fit 2 trains another model (resnet)"
        assert event.evidence == {"next_fit": 2, "next_model": "resnet"}
        assert event_from_json(event.to_json()) == event
    assert alarm_line(ended[0], 5) == (
        "alarm ended: prediction_variance out (with fit 1): fit 2 trains another model (resnet)"
    )


def test_evidence_numbers_are_plain_json():
    events = []
    AlarmBook(events.append).raise_(
        "unscaled_data", "m", {"mean": np.float32(3012.123456789), "rows": np.int64(7)}
    )
    line = events[0].to_json()
    assert '"mean":3012.12' in line and '"rows":7' in line


def test_every_kind_has_advice():
    for kind in (
        "prediction_variance",
        "vanishing_gradients",
        "exploding_gradients",
        "unscaled_data",
        "nonfinite_data",
        "nan_loss",
    ):
        assert ADVICE[kind].causes and ADVICE[kind].fixes
    fixes = " ".join(f for a in ADVICE.values() for f in a.fixes)
    for word in ("standardize", "clipnorm", "learning rate", "dropout"):
        assert word in fixes
