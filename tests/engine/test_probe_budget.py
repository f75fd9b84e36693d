"""When the probes run: their share of training time, the interval between probes on
fast steps, the slower steps after a probe charged to it, and fixed intervals."""

from __future__ import annotations

import pytest

from kmon.engine.probes import ProbeAftermath, ProbeBudget


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


def test_aftermath_timed_as_one_span_charges_what_steps_one_by_one_charge():
    def warmed():
        budgets = (ProbeBudget(share=0.02), ProbeBudget(share=0.01))
        aftermath = ProbeAftermath(steps=8)
        for _ in range(40):
            aftermath.step(0.001)
        aftermath.probed(budgets)
        return aftermath, budgets

    extras = (0.0004, 0.0003, 0.0002, 0.0001, 0.0, 0.0, 0.0002, 0.0)
    one_by_one, by_step = warmed()
    for extra in extras:
        one_by_one.step(0.001 + extra)
    spans, by_span = warmed()
    assert spans.settled and spans.left == 8  # a look may wait the 8 steps out
    spans.span(0.003 + sum(extras[:3]), 3)  # cut short by a probe's due step, say
    spans.span(0.005 + sum(extras[3:]), 5)
    assert spans.left == 0
    for span, step in zip(by_span, by_step):
        assert span.after == pytest.approx(step.after) and span.after > 0
    assert spans.typical == one_by_one.typical  # steps after probes never move it
    # An epoch's end among them (mean over 3 typical steps): no steps, nothing charged.
    spans.probed(by_span)
    charged = by_span[0].after
    spans.span(8 * 0.001 + 0.05, 8)
    assert by_span[0].after == charged and spans.left == 0


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


def test_steps_until_due_is_exact_for_every_and_by_credit_otherwise():
    every = ProbeBudget(0.01, every=10)
    assert every.steps_until_due(0.001) == 1  # never ran: now
    every.spent(0.002)
    every.tick(0.003, 3)
    assert every.steps_until_due(0.001) == 7
    every.tick(0.007, 7)
    assert every.due
    budget = ProbeBudget(0.01, first_cost=0.002)
    # 0.002 s of credit at 1% of 1 ms steps: 200 steps.
    assert budget.steps_until_due(0.001) == 200
    budget.tick(0.199, 199)
    assert not budget.due
    budget.tick(0.001)
    assert budget.due and budget.steps_until_due(0.001) == 1


def test_a_span_of_steps_moves_the_typical_step_as_single_steps_would():
    single, spanned = ProbeAftermath(), ProbeAftermath()
    for aftermath in (single, spanned):
        for _ in range(20):
            aftermath.step(0.001)
    assert spanned.settled
    for _ in range(30):
        single.step(0.002)
    spanned.span(0.06, 30)
    assert spanned.typical == pytest.approx(single.typical)
    spanned.span(1.0, 30)  # a gap among them (validation): not steps
    assert spanned.typical == pytest.approx(single.typical)
    spanned.probed((ProbeBudget(0.01),))
    assert spanned.settled and spanned.left == 8  # the steps after it: one span too


def test_a_span_moves_a_typical_step_still_warming_up_as_single_steps_would():
    for seen, count in ((1, 3), (2, 30), (8, 2), (9, 1), (12, 128)):
        single, spanned = ProbeAftermath(), ProbeAftermath()
        for aftermath in (single, spanned):
            for _ in range(seen):
                aftermath.step(0.001)
        for _ in range(count):
            single.step(0.0015)
        spanned.span(0.0015 * count, count)
        assert spanned.typical == pytest.approx(single.typical, rel=1e-12)
        assert spanned.settled == single.settled


def test_a_debt_is_at_most_max_debt_seconds_of_earning():
    """At a small share, an early schedule's debt (5% of a model's first two epochs,
    6 s for minute-long epochs) would hold every probe back for over an hour: what
    is owed beyond MAX_DEBT_SECONDS of training's earning is forgiven."""
    from kmon.engine.alarms.probe_budget import MAX_DEBT_SECONDS

    budget = ProbeBudget(share=0.0015)
    budget.spent(0.1)  # the first call compiles: not charged
    for _ in range(240):  # two minute-long epochs' early checks, 25 ms each
        budget.spent(0.025)
    assert budget.charged == pytest.approx(6.0)
    assert budget.credit == pytest.approx(-0.0015 * MAX_DEBT_SECONDS)
    budget.charge(1.0)  # the steps after them ran slower too: still no deeper
    assert budget.credit == pytest.approx(-0.0015 * MAX_DEBT_SECONDS)
    seconds = 0.0
    while not budget.due:
        budget.tick(0.5)
        seconds += 0.5
    # The debt and the next probe's cost earned, not 6 s at 0.15% (67 minutes).
    assert seconds == pytest.approx(MAX_DEBT_SECONDS + 0.025 / 0.0015, abs=0.5)
