"""A GRU text classifier over ``Embedding(mask_zero=True)``, under the real ``kmon
train --headless``: the GRU consumes the mask, so accuracy is a mean over every
sample and kmon recovers it (it called it "not recoverable: masked outputs" for any
model with a masking layer; found trying a script as a user would, 2026-12-04)."""

from __future__ import annotations

import pytest
from batch_identity import assert_values_average_to_history, batches_by_epoch


def test_accuracy_behind_a_consumed_mask_is_recovered_batch_by_batch(real_run):
    run = real_run.clean("gru_text_classifier.py")
    (kinds,) = run.of_type("value_kinds")
    assert kinds.kinds == {"loss": "mean", "accuracy": "mean"}
    assert assert_values_average_to_history(run.events, 0) == 3 * 2
    batches = [b for epoch in batches_by_epoch(run.events, 0).values() for b in epoch]
    assert len(batches) == 3 * 27  # 1,700 texts of 64: 26 full batches and one of 36
    for batch in batches:
        # A batch's accuracy is a count of its texts over its size.
        correct = batch.values["accuracy"] * batch.size
        assert correct == pytest.approx(round(correct), abs=1e-3), batch
