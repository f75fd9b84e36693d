"""Recovered batch values are right or absent when Keras's float32 running means can
no longer hold them: after a loss that dwarfs the later ones (a run that overflowed
and came back, ``tests/data/real/unscaled_sgd_overflows.py``), after an infinite or
NaN running mean, and deep into a long epoch.

Keras's ``Mean`` tracker is simulated as it computes: a float32 total and count,
their float32 quotient handed to the callback as a Python float.
"""

from __future__ import annotations

import math

import numpy as np

from kmon.engine.events import MEAN
from kmon.engine.training.metric_kinds import KeyKind
from kmon.engine.training.recovery import VOUCHED, BatchValueRecovery

LOSS = KeyKind(MEAN, low=0.0)  # a mean squared error: never negative
ACCURACY = KeyKind(MEAN, low=0.0, high=1.0)


def keras_running_means(values, size=32):
    """The running means Keras passes after each batch of ``size`` samples."""
    total, count, means = np.float32(0), np.float32(0), []
    for value in values:
        total = np.float32(total + np.float32(np.float32(value) * size))
        count = np.float32(count + size)
        means.append(float(total / count))
    return means


def recover(values, kind=LOSS, size=32):
    recovery = BatchValueRecovery(lambda: {"loss": kind})
    recovered = []
    for step, mean in enumerate(keras_running_means(values, size)):
        for ready in recovery.add(step, size, {"loss": mean}):
            recovered.append(ready.values["loss"] if ready.values else None)
    return recovered


def test_after_a_loss_that_dwarfs_the_rest_values_are_right_or_not_recoverable():
    # As the overflowing script's second epoch: 2.3e25 at first, each batch's loss
    # a third lower than the one before, down to 1e12.
    values = [2.3e25 * 0.66**step for step in range(100)]
    values = [max(value, 1e12) for value in values]
    recovered = recover(values)
    assert recovered[0] == np.float32(values[0])
    error = 1e-7 * 2 * sum(values)  # the float32 totals' error at the end
    for true, got in zip(values, recovered):
        assert got is None or abs(got - true) <= max(VOUCHED * true, error)
    assert all(got is None or got >= 0 for got in recovered)  # no negative loss
    assert recovered[-1] == 0.0  # 1e12 under totals of 1e27: 0 to within their error
    assert recovered.count(None) >= 3  # within 10x of that error: not recoverable
    assert None not in recovered[:20]  # early ones are held


def test_after_an_infinite_running_mean_the_values_are_not_recoverable():
    means = [2.0, math.inf, math.inf, math.nan]
    recovery = BatchValueRecovery(lambda: {"loss": LOSS})
    got = [recovery.add(step, 32, {"loss": mean})[0].values["loss"] for step, mean in enumerate(means)]
    assert got[0] == 2.0
    assert got[1] == math.inf  # the batch that overflowed the total: shown as it is
    assert got[2:] == [None, None]


def test_an_accuracy_of_zero_deep_in_an_epoch_is_zero_not_a_rounding_of_it():
    rng = np.random.default_rng(0)
    values = list(rng.integers(8, 25, size=3000) / 32)
    values[2500] = 0.0
    recovered = recover(values, ACCURACY)
    assert recovered[2500] == 0.0
    assert all(got is not None for got in recovered)
    assert np.allclose(recovered, values, rtol=0.01, atol=0)


def test_a_long_epoch_keeps_every_value_it_shows_within_its_bound():
    rng = np.random.default_rng(1)
    values = list(rng.uniform(0.2, 0.3, size=60_000))
    recovered = recover(values)
    shown = [(true, got) for true, got in zip(values, recovered) if got is not None]
    assert all(abs(got - true) <= VOUCHED * true for true, got in shown)
    # The float32 totals hold a steady loss to 10% for hundreds of thousands of steps.
    assert None not in recovered
