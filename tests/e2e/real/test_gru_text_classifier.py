"""A GRU text classifier over ``Embedding(mask_zero=True)``, under the real ``kmon
train --headless`` (found trying a script as a user would, 2026-12-04):

- the GRU consumes the mask, so accuracy is a mean over every text and kmon recovers
  it (it said "not recoverable: masked outputs" for any model with a masking layer);
- the model predicts the majority class for every text through its first two
  epochs, whose early schedule of prediction probes leaves no credit for another
  in the last two: the run ended on ``class_collapse`` while its final model
  predicted both classes. A prediction alarm still raised at a fit's end is judged
  on the final weights."""

from __future__ import annotations

import re

import pytest
from batch_identity import assert_values_average_to_history, batches_by_epoch

SCRIPT = "gru_text_classifier.py"


@pytest.fixture(scope="module")
def run(real_run):
    return real_run.clean(SCRIPT)


def test_accuracy_behind_a_consumed_mask_is_recovered_batch_by_batch(run):
    (kinds,) = run.of_type("value_kinds")
    assert kinds.kinds == {"loss": "mean", "accuracy": "mean"}
    assert assert_values_average_to_history(run.events, 0) == 4 * 2
    batches = [b for epoch in batches_by_epoch(run.events, 0).values() for b in epoch]
    assert len(batches) == 4 * 40  # 2,550 texts of 64: 39 full batches and one of 54
    for batch in batches:
        # A batch's accuracy is a count of its texts over its size.
        correct = batch.values["accuracy"] * batch.size
        assert correct == pytest.approx(round(correct), abs=1e-3), batch


def test_a_collapse_the_model_outgrew_is_cleared_at_the_fit_end(run):
    shown = re.search(r"texts predicted negative: ([\d.]+) \(labels: ([\d.]+)\)", run.stdout)
    negative, labels = float(shown[1]), float(shown[2])
    assert negative < 0.9 and labels > 0.6  # the final model predicts both classes
    alarms = [(e.state, e.epoch, e.step) for e in run.of_type("alarm") if e.kind == "class_collapse"]
    assert alarms[0][:2] == ("raised", 0)
    # Cleared on the final weights: the fit's last epoch and step.
    assert alarms[1:] == [("cleared", 3, 39)]
    assert "alarm active" not in run.kmon_lines[-1]
