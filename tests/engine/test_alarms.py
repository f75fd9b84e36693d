"""Alarm decisions on numbers alone: counters, hysteresis, the spread and gradient
rules, data checks, the probe time budget, and how alarms fold into the run state
and the headless output. No Keras here: tests/engine/test_probes.py trains real models."""

from __future__ import annotations

import dataclasses
import io
import math

import numpy as np
import pytest
from model_events import fit, models_run

from kmon.engine.alarms.advice import ADVICE
from kmon.engine.alarms.data_checks import array_stats, check_data
from kmon.engine.alarms.rules import (
    CLEARED,
    ENDED,
    EXPLODING_GRADIENTS,
    HIGH,
    HOLD,
    LOW,
    MID,
    RAISED,
    VANISHING_GRADIENTS,
    AlarmBook,
    GradientRule,
    Hysteresis,
    VarianceRule,
    alarm_line,
)
from kmon.engine.events import Alarm, EpochStart, FitStart, RunStart, event_from_json
from kmon.engine.headless.reporter import HeadlessReporter
from kmon.engine.probes import Head, ProbeAftermath, ProbeBudget, spread
from kmon.engine.view.state import RunState

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


# -- data checks ----------------------------------------------------------------------------


def findings(inputs, targets=(), **kwargs):
    return {
        f.kind: f
        for f in check_data(
            [array_stats(name, a) for name, a in inputs],
            [array_stats(name, a, check_scale=s) for name, a, s in targets],
            **kwargs,
        )
    }


def test_standardized_data_passes():
    rng = np.random.default_rng(0)
    assert (
        findings([("x", rng.normal(size=(500, 8)))], [("y", rng.normal(size=(500, 1)), True)]) == {}
    )


def test_raw_units_are_reported_with_the_numbers():
    rng = np.random.default_rng(0)
    x = rng.normal(3000, 600, size=(500, 24, 1))
    found = findings([("x", x)], [("out", rng.normal(3000, 600, size=(500, 1)), True)])
    unscaled = found["unscaled_data"]
    assert "input x: mean 3" in unscaled.message and "target out: mean 3" in unscaled.message
    assert unscaled.evidence["input x max |mean|"] == pytest.approx(3000, rel=0.05)
    assert unscaled.evidence["input x max std"] == pytest.approx(600, rel=0.1)


def test_features_on_very_different_ranges():
    rng = np.random.default_rng(0)
    x = np.stack([rng.normal(0, 1, 500), rng.normal(0, 1e-4, 500)], axis=1)
    found = findings([("x", x)])
    assert "feature stds differ" in found["unscaled_data"].message
    assert found["unscaled_data"].evidence["input x std ratio"] > 1000


def test_nan_and_inf_in_the_data():
    x = np.ones((100, 3))
    x[5, 1] = np.nan
    x[7, 2] = np.inf
    y = np.zeros((100, 1))
    y[0] = np.nan
    found = findings([("x", x)], [("out", y, True)])
    bad = found["nonfinite_data"]
    assert bad.evidence["input x NaN"] == 1 and bad.evidence["input x Inf"] == 1
    assert bad.evidence["target out NaN"] == 1
    assert "unscaled_data" not in found  # the finite values are fine


def test_ids_and_class_labels_are_not_scale_checked():
    tokens = np.random.default_rng(0).integers(0, 20000, size=(100, 30))
    labels = np.arange(100, dtype="float32") % 1000
    assert findings([("tokens", tokens)], [("cls", labels, False)]) == {}


# -- the time budget ----------------------------------------------------------------------------


def test_budget_spends_its_share_of_training_time():
    budget = ProbeBudget(share=0.02)
    assert budget.due  # the first check runs at once
    budget.spent(0.5)  # compiling: not charged
    assert budget.one_time == 0.5 and budget.charged == 0
    budget.tick(0.01)
    assert budget.due  # no estimate yet: measure the real cost
    budget.spent(0.002)
    steps = 0
    while not budget.due:
        budget.tick(0.01)
        steps += 1
    # 2 ms per probe at 2% of 10 ms steps: one probe every 10 steps (plus paying
    # back the calibration probe).
    assert 15 <= steps <= 25
    for _ in range(1000):
        budget.tick(0.01)
        if budget.due:
            budget.spent(0.002)
    assert budget.charged / (1000 * 0.01) == pytest.approx(0.02, rel=0.1)


def test_budget_can_wait_for_a_first_cost():
    budget = ProbeBudget(share=0.01, first_cost=0.01)
    ticks = 0
    while not budget.due:
        budget.tick(0.01)
        ticks += 1
    assert ticks in (100, 101)  # float rounding of the credit


def test_budget_waits_an_interval_between_probes_on_fast_steps():
    # 1 ms steps, 1 ms probes: 2% alone would probe every 50 steps (20 a second).
    budget = ProbeBudget(share=0.02, interval=0.25)
    budget.spent(0.1)  # the first call compiles
    calls = []
    for step in range(2000):  # two seconds of training
        budget.tick(0.001)
        if budget.due:
            budget.spent(0.001)
            calls.append(step)
    assert len(calls) == 8  # one every 250 steps
    assert all(b - a == 250 for a, b in zip(calls, calls[1:]))
    assert budget.charged == pytest.approx(0.008)  # 0.4% of the time, not 2%


def test_budget_interval_does_not_bind_slow_steps():
    # 100 ms steps, 20 ms probes: the budget spaces them by 1 s already.
    budget = ProbeBudget(share=0.02, interval=0.25)
    budget.spent(0.5)
    budget.tick(0.1)
    budget.spent(0.02)  # calibrates the estimate
    gaps, since = [], 0
    for _ in range(100):
        budget.tick(0.1)
        since += 1
        if budget.due:
            budget.spent(0.02)
            gaps.append(since)
            since = 0
    assert gaps and all(gap == 10 for gap in gaps[1:])


def test_aftermath_charges_the_slower_steps_after_a_probe():
    predictions, gradients = ProbeBudget(share=0.02), ProbeBudget(share=0.01)
    aftermath = ProbeAftermath(steps=8)
    aftermath.step(2.0)  # the fit's first step traces the train function
    for _ in range(50):
        aftermath.step(0.001)
    assert aftermath.typical == pytest.approx(0.001)
    aftermath.probed((predictions,))
    for extra in (0.0004, 0.0003, 0.0002, 0.0001, 0, 0, 0, 0, 0.0005):
        aftermath.step(0.001 + extra)
    # The eight steps after it, not the ninth.
    assert predictions.after == pytest.approx(0.001)
    assert predictions.charged == pytest.approx(0.001)
    assert predictions.credit == pytest.approx(-0.001)
    assert gradients.after == 0
    # Steps that follow no probe move the typical step.
    assert aftermath.typical == pytest.approx(0.001 + 0.1 * 0.0005)


def test_aftermath_waits_for_a_typical_step_and_leaves_epoch_ends_out():
    predictions, gradients = ProbeBudget(share=0.02), ProbeBudget(share=0.01)
    aftermath = ProbeAftermath(steps=2, warm_steps=16)
    for seconds in (0.02, 0.018, 0.016):  # a fit's first steps run slower
        aftermath.step(seconds)
    aftermath.probed((predictions,))
    aftermath.step(0.011)
    aftermath.step(0.012)
    assert predictions.after == 0  # no typical step yet: nothing charged
    for _ in range(60):
        aftermath.step(0.01)
    typical = aftermath.typical
    assert typical == pytest.approx(0.01, rel=0.01)
    aftermath.probed((predictions, gradients))
    aftermath.step(0.5)  # an epoch's end and validation: not a step
    aftermath.step(0.014)
    aftermath.step(0.012)
    # Split between the probes that ran together.
    assert predictions.after == pytest.approx((0.026 - 2 * typical) / 2)
    assert gradients.after == predictions.after
    # Faster steps after a probe give back what noise took.
    aftermath.probed((predictions,))
    aftermath.step(0.009)
    assert predictions.after == pytest.approx((0.026 - 2 * typical) / 2 + 0.009 - typical)
    assert aftermath.typical == typical  # steps after probes never move it


def test_budget_charged_for_its_aftermath_probes_less_often():
    # 1 ms steps, 1 ms probes that slow the next steps by 1 ms in all: charged for
    # both, they run half as often as when only the call counts.
    def calls(slowdown: float) -> int:
        budget, aftermath = ProbeBudget(share=0.02), ProbeAftermath(steps=4)
        budget.spent(0.1)  # the first call compiles
        count, left = 0, 0
        for _ in range(20_000):
            seconds = 0.001 + (slowdown / 4 if left else 0.0)
            left = max(0, left - 1)
            aftermath.step(seconds)
            budget.tick(seconds)
            if budget.due:
                budget.spent(0.001)
                aftermath.probed((budget,))
                count, left = count + 1, 4
        return count

    assert calls(0.001) == pytest.approx(calls(0.0) / 2, rel=0.05)


def test_fixed_interval():
    budget = ProbeBudget(share=0.0, every=3)
    due = []
    for _ in range(10):
        due.append(budget.due)
        if budget.due:
            budget.spent(0.0)
        budget.tick(0.0)
    assert due == [True, False, False, True, False, False, True, False, False, True]


# -- state and headless ----------------------------------------------------------------------


def test_state_keeps_active_alarms_and_history():
    state = RunState()
    raised = Alarm(kind="prediction_variance", subject="out", message="m", t=1.0)
    other = Alarm(kind="nan_loss", severity="error", message="n", t=2.0)
    cleared = Alarm(kind="prediction_variance", subject="out", state="cleared", t=3.0)
    state.apply_all([raised, other])
    assert list(state.alarms) == [("prediction_variance", "out"), ("nan_loss", None)]
    state.apply(cleared)
    assert list(state.alarms) == [("nan_loss", None)]
    assert list(state.alarm_history) == [raised, other, cleared]


def test_headless_prints_one_line_per_alarm_and_the_active_ones_at_the_end():
    out = io.StringIO()
    reporter = HeadlessReporter(out, io.StringIO())
    reporter.handle(
        [
            RunStart(scenario="s", t=0.0),
            FitStart(fit=0, epochs=2, steps=10, t=1.0),
            Alarm(kind="unscaled_data", message="data is not standardized", t=1.1),
            EpochStart(fit=0, epoch=0, t=1.2),
            Alarm(kind="prediction_variance", subject="out", message="same", epoch=0, step=4),
            Alarm(
                kind="prediction_variance",
                subject="out",
                state="cleared",
                message="ok",
                epoch=0,
                step=8,
            ),
        ]
    )
    reporter.finish()
    lines = out.getvalue().splitlines()
    assert (
        "[kmon] alarm raised: unscaled_data [warning] (fit start): data is not standardized"
        in lines
    )
    assert "[kmon] alarm raised: prediction_variance out [warning] (epoch 1, step 4): same" in lines
    assert "[kmon] alarm cleared: prediction_variance out (epoch 1, step 8): ok" in lines
    assert "1 alarm active: unscaled_data" in lines[-1]


def test_an_ended_alarm_leaves_the_active_ones_and_stays_in_the_history():
    raised = Alarm(kind="unscaled_data", message="raw pixels", fit=0, t=1.0)
    ended = dataclasses.replace(
        raised, state="ended", message="fit 1 trains another model (b)", t=2.0
    )
    state = RunState()
    state.apply_all([raised, ended])
    assert state.alarms == {}
    assert list(state.alarm_history) == [raised, ended]


def test_the_headless_summary_says_which_alarms_ended_with_their_model():
    stream = models_run()
    fit(stream, "a", model_index=0)
    stream.add(Alarm, kind="unscaled_data", message="raw pixels", fit=0)
    stream.add(
        Alarm,
        kind="unscaled_data",
        state="ended",
        message="fit 1 trains another model (b)",
        evidence={"next_fit": 1, "next_model": "b"},
        fit=0,
    )
    fit(stream, "b", model_index=1)
    stream.run_end()
    out = io.StringIO()
    reporter = HeadlessReporter(out, io.StringIO())
    reporter.handle(stream.events)
    reporter.finish()
    lines = out.getvalue().splitlines()
    assert "[kmon] alarm ended: unscaled_data (with fit 0): fit 1 trains another model (b)" in lines
    assert "ended with their model: unscaled_data (fit 0)" in lines[-1]
    assert "active" not in lines[-1]


def test_alarm_line_without_state():
    event = Alarm(kind="nan_loss", severity="error", message="loss is nan", epoch=2, step=3)
    assert alarm_line(event, 3) == "alarm raised: nan_loss [error] (epoch 3, step 3): loss is nan"


# -- the command line ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["train", "--stop-on-nan", "script.py", "--lr", "1"],
        ["run", "some_scenario", "--stop-on-nan"],
    ],
)
def test_stop_on_nan_reaches_the_training_run(argv, tmp_path):
    from kmon.cli import _session, build_parser
    from kmon.engine.run.runner import CallableTarget

    args = build_parser().parse_args(argv)
    assert args.stop_on_nan
    args.log = str(tmp_path / "run.jsonl")
    session = _session(
        CallableTarget("noop", lambda: None), args, quiet_keras=True, evaluate_training_data=False
    )
    try:
        assert session.run._stop_on_nan is True
    finally:
        session.close()
    assert not build_parser().parse_args(["run", "x"]).stop_on_nan
