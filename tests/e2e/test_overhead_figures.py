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


def test_the_cpu_bound_adds_the_hooks_probes_and_other_threads_to_plains_step(figures):
    def fit(threads, switches, timed=None, probes=(0.0, 0.0)):
        return {
            "seconds": 1.0,
            "steps": 1000,
            "threads": {"training": 900_000_000, "native": 300_000_000, **threads},
            "switches": switches,
            "timed": timed or {},
            "probes": {"calls": probes[0], "after": probes[1]},
        }

    meter = fit(
        {},
        1100,
        # 6 µs a step of hooks, 2 µs of them inside probe calls (3 calls, their
        # nested timers' 500 ns each taken off).
        {
            "callback.on_train_batch_begin": (1000, 4_000_000),
            "callback.on_train_batch_end": (1000, 2_000_000),
            "probes": (3, 2_000_000 - 3 * 500),
        },
        # probe calls 3 ms of wall time, the steps after them 1 ms
        probes=(0.003, 0.001),
    )
    rounds = [
        {
            "plain": fit({}, 1070),
            "kmon": fit({"main": 20_000_000, "kmon-eventlog": 5_000_000}, 1120),
            "headless": fit({"main": 10_000_000}, 1090),
            "meter": meter,
        }
        for _ in range(12)
    ]
    rows = {row.name: row for row in figures.bound_figures(rounds, {"kmon": 1.03}, 500, 20.0)}
    # 1 ms steps: (4 µs of hooks + 4 µs of probes' wall + 25 µs of threads + 0.05
    # extra wake-ups of 20 µs) / 1,000 µs.
    assert rows["kmon, CPU bound"].median == pytest.approx(1.034)
    assert rows["kmon, CPU bound"].verdict == "not met"
    assert rows["headless, CPU bound"].median == pytest.approx(1.0184)
    assert rows["headless, CPU bound"].goal is None
    switches = rows["training thread's extra context switches a step, live"]
    assert switches.median == pytest.approx(0.05)
    assert figures.bound_figures([{"plain": r["plain"], "kmon": r["kmon"]} for r in rounds], {}, 0) == []


def test_the_probes_share_is_over_the_run_not_a_median_of_bursts(figures):
    # On slow steps a 30 ms probe comes every few 2 s fits: the rounds read 1.5% or
    # 0% (a median of 0 here, of 1.5 where most rounds had one), the run 0.5%; the
    # bound adds the run's share to every round.
    def fit(probe_wall):
        return {
            "seconds": 2.0,
            "steps": 200,
            "threads": {"training": 1_800_000_000},
            "timed": {"probes": (1 if probe_wall else 0, 0)},
            "probes": {"calls": probe_wall, "after": 0.0},
        }

    rounds = [
        {"plain": {**fit(0.0), "switches": 0}, "kmon": {**fit(0.0), "switches": 0},
         "meter": fit(0.0 if index % 3 else 0.03)}
        for index in range(12)
    ]  # fmt: skip
    share = next(row for row in figures.meter_figures(rounds, 0) if "probe calls" in row.name)
    assert figures.median(share.values) == 0.0
    assert share.median == pytest.approx(100 * 4 * 0.03 / 24)
    low, high = share.interval
    assert low < share.median < high < 1.1 and share.verdict == "met"
    (bound, _) = figures.bound_figures(rounds, {"kmon": 1.03}, 0)
    # 4 probes of 30 ms over 2,400 steps: 50 µs a step, over plain's 10 ms step.
    assert bound.values == pytest.approx([1.005] * 12)
