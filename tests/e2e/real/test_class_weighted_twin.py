"""``class_weight`` and ``sample_weight`` under the real ``kmon train --headless``:
the loss Keras reports is weighted, and each batch's loss kmon recovers from it is
the one a twin model's ``train_on_batch`` gets for the same batch (tried as a user
would, 2026-12-04: no bug; the corpus had no ``class_weight`` run)."""

from __future__ import annotations

import json

import pytest
from batch_identity import kinds_of, recovered

from kmon.engine.view.explain import explain_epoch


def test_weighted_batch_losses_are_the_twins(real_run):
    run = real_run.clean("class_weighted_twin.py")
    truth = json.loads((run.folder / "twin_losses.json").read_text())
    assert [len(losses) for losses in truth] == [47, 60]
    for fit, losses in enumerate(truth):
        assert recovered(run.events, fit, "loss") == pytest.approx(losses, rel=1e-4)
        # Accuracy is not weighted (only weighted_metrics are): a plain mean.
        assert kinds_of(run.events, fit) == {"loss": "mean", "accuracy": "mean"}
    weighted = [baselines.by_head["dense_1"]["weighted"] for baselines in run.of_type("baselines")]
    assert weighted == ["class_weight", "sample_weight"]
    for record, info in zip(run.state.history, run.state.fits, strict=True):
        assert f"fit() applied {info.weighting.replace('_', ' ')}s to every batch loss" in (
            explain_epoch(record, info)
        )
