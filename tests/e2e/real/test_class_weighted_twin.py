"""``class_weight`` and ``sample_weight`` under the real ``kmon train --headless``:
the loss Keras reports is weighted, and each batch's loss kmon recovers from it is
the one a twin model's ``train_on_batch`` gets for the same batch (tried as a user
would, 2026-12-04). With ``steps_per_epoch`` on arrays, the constant predictor's
loss was the unweighted one (0.3927 beside a loss weighted to 1.05 at the
constant): the data checks' arguments were shifted by one."""

from __future__ import annotations

import json

import numpy as np
import pytest
from batch_identity import kinds_of, recovered

from kmon.engine.view.explain import explain_epoch


def weighted_entropy(positive: float, weight: float) -> float:
    """The best constant's binary cross-entropy, positives weighing ``weight``."""
    mass = weight * positive + (1 - positive)
    share = weight * positive / mass
    return -mass * (share * np.log(share) + (1 - share) * np.log(1 - share))


def test_weighted_batch_losses_are_the_twins(real_run):
    run = real_run.clean("class_weighted_twin.py")
    truth = json.loads((run.folder / "twin_losses.json").read_text())
    assert [len(losses) for losses in truth] == [85, 120, 120]
    for fit, losses in enumerate(truth):
        assert recovered(run.events, fit, "loss") == pytest.approx(losses, rel=1e-4)
        # Accuracy is not weighted (only weighted_metrics are): a plain mean.
        assert kinds_of(run.events, fit) == {"loss": "mean", "accuracy": "mean"}
    baselines = [event.by_head["dense_1"] for event in run.of_type("baselines")]
    assert [head["weighted"] for head in baselines] == ["class_weight"] + ["sample_weight"] * 2
    # The best constant's loss on every training row (5,400 of 6,000 in the first
    # fit), as Keras weighs it: exact, not over the 4,096 rows the data checks read.
    x = np.random.default_rng(1).normal(size=(6000, 10))  # the script's data
    labels = x[:, 0] + 0.5 * x[:, 1] > 1.2
    expected = [(5400, 7.0), (6000, 5.0), (6000, 5.0)]
    assert [head["rows"] for head in baselines] == [rows for rows, _ in expected]
    constants = [weighted_entropy(labels[:rows].mean(), weight) for rows, weight in expected]
    assert [head["value"] for head in baselines] == pytest.approx(constants, rel=1e-9)
    for record, info in zip(run.state.history, run.state.fits, strict=True):
        assert f"fit() applied {info.weighting.replace('_', ' ')}s to every batch loss" in (
            explain_epoch(record, info)
        )
