"""The training-overhead benchmark's figures: bootstrap intervals over rounds, a goal
met only when the whole interval is under it, and kmon's CPU a step by thread."""

from __future__ import annotations

import sys

import pytest
from locations import BENCHMARKS


@pytest.fixture(scope="module")
def figures():
    sys.path.insert(0, str(BENCHMARKS))
    try:
        import _overhead_figures

        yield _overhead_figures
    finally:
        sys.path.remove(str(BENCHMARKS))


def test_the_interval_brackets_the_median_and_narrows_with_agreeing_rounds(figures):
    spread = [0.95, 1.0, 1.02, 1.05, 1.2, 0.9, 1.1, 1.01, 0.99, 1.3, 1.0, 1.04]
    low, high = figures.interval(spread)
    assert low < figures.median(spread) < high
    assert (low, high) == figures.interval(spread)  # seeded: the same run prints the same
    assert figures.interval([1.01] * 12) == (1.01, 1.01)


def test_a_goal_is_met_only_when_the_whole_interval_is_under_it(figures):
    # A median under the goal with rounds well above it is not a goal met.
    values = [1.0, 1.01, 1.02, 1.0, 1.09, 1.1, 1.01, 1.08, 1.0, 1.12, 1.02, 1.11]
    figure = figures.Figure("kmon", values, 1.03)
    assert figure.median <= 1.03
    assert figure.interval[1] > 1.03
    assert figure.verdict == "not met"
    assert figures.Figure("kmon", [1.0, 1.01, 1.02] * 4, 1.03).verdict == "met"
    assert figures.Figure("plain-again", values).verdict == ""


def test_cpu_figures_count_kmons_threads_a_step_and_not_tensorflows(figures):
    def fit(training, **threads):
        return {
            "seconds": 2.0,
            "steps": 1000,
            "cpu": 2.0,
            "epochs": [1.0, 1.0],
            "threads": {"training": training, "native": 9_000_000_000, **threads},
        }

    rounds = [
        {
            "plain": fit(1_000_000_000),
            "kmon": fit(1_004_000_000, main=8_000_000, **{"kmon-eventlog": 3_000_000}),
        }
        for _ in range(12)
    ]
    rows = {row.name: row for row in figures.cpu_figures(rounds, timer_ns=0)}
    assert rows["training thread, live - plain (by subtraction)"].median == pytest.approx(4.0)
    assert rows["kmon-eventlog, live"].median == pytest.approx(3.0)
    together = rows["all kmon's other threads, live"]
    assert together.median == pytest.approx(11.0)
    assert together.goal == 15.0 and together.verdict == "met"
    table = figures.table(list(rows.values()))
    assert "all kmon's other threads, live" in table and "11.0 µs" in table
