"""The live monitor's frame budget: CPU time for frames, earned with wall time."""

from __future__ import annotations

import doctest

import pytest

from kmon.tui import frame_budget
from kmon.tui.frame_budget import FrameBudget


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_credit_is_earned_at_its_share_of_wall_time_and_kept_up_to_the_burst():
    clock = Clock()
    budget = FrameBudget(share=0.002, burst=0.01, longest_wait=5.0, clock=clock)
    assert budget.credit == pytest.approx(0.01)  # starts full: the first frames at once
    budget.spend(0.01)
    assert budget.credit == pytest.approx(0.0)
    clock.now += 2.0
    assert budget.credit == pytest.approx(0.004)
    clock.now += 3600.0
    assert budget.credit == pytest.approx(0.01)


def test_a_frame_costlier_than_the_credit_leaves_a_debt_that_wall_time_pays_off():
    clock = Clock()
    budget = FrameBudget(share=0.002, burst=0.01, longest_wait=5.0, clock=clock)
    budget.spend(0.014)
    assert not budget.allows()
    assert budget.wait() == pytest.approx(2.0)
    clock.now += 1.999
    assert not budget.allows()
    clock.now += 0.002
    assert budget.allows() and budget.wait() == 0.0


def test_the_debt_is_at_most_longest_wait_of_earning():
    """The app draws a frame after longest_wait whatever the credit: a layout pass
    of 0.1 s must not hold back the frames after it for 50 s."""
    clock = Clock()
    budget = FrameBudget(share=0.002, burst=0.01, longest_wait=5.0, clock=clock)
    budget.spend(0.1)
    assert budget.credit == pytest.approx(-0.01)
    assert budget.wait() == pytest.approx(5.0)


def test_a_negative_cost_pays_nothing_back():
    budget = FrameBudget(share=0.002, burst=0.01, longest_wait=5.0, clock=Clock())
    budget.spend(-1.0)
    assert budget.credit == pytest.approx(0.01)


def test_its_docstring_example_runs():
    result = doctest.testmod(frame_budget)
    assert result.attempted > 0 and result.failed == 0
