"""The keras-io guide "The Functional API" under the real ``kmon train --headless``:
the multi-input, multi-output ticket classifier (a dict of losses and of
``loss_weights``) and the toy ResNet. The recovered per-batch values are checked
without retraining: they average back to History, weighted as Keras weights each
key, the total is the weighted sum of the head losses on every batch (the last,
smaller one included, where the two weightings differ), and no loss is negative."""

from __future__ import annotations

import pytest
from batch_identity import assert_values_average_to_history, batches_by_epoch, recovered

from kmon.engine.view.explain import explain_epoch

TICKETS, RESNET = 0, 1


@pytest.fixture(scope="module")
def guide(real_run):
    return real_run.clean("functional_api_guide.py")


def test_the_ticket_classifier_is_read_from_its_compiled_loss(guide):
    start = {e.fit: e for e in guide.of_type("fit_start")}[TICKETS]
    assert start.outputs == ["department", "priority"]  # Keras's own (sorted) order
    assert start.heads == {
        "priority": {
            "loss": "binary_crossentropy",
            "weight": 1.0,
            "metrics": [],
            "loss_key": "priority_loss",
            "task": "classification",
            "binary": True,
            "from_logits": True,
        },
        "department": {
            "loss": "categorical_crossentropy",
            "weight": 0.2,
            "metrics": [],
            "loss_key": "department_loss",
            "task": "classification",
            "binary": False,
            "from_logits": True,
        },
    }
    assert start.extra_losses == []
    kinds = {e.fit: e.kinds for e in guide.of_type("value_kinds")}[TICKETS]
    # TensorFlow's traced step: the total counts samples, each head's loss steps.
    assert kinds == {"loss": "mean", "priority_loss": "step_mean", "department_loss": "step_mean"}


def test_the_ticket_classifiers_values_average_back_to_history(guide):
    assert assert_values_average_to_history(guide.events, TICKETS) == 6
    for key in ("loss", "priority_loss", "department_loss"):
        assert min(recovered(guide.events, TICKETS, key)) >= 0, key


def test_the_total_is_the_weighted_head_sum_on_every_batch(guide):
    batches = [b for epoch in batches_by_epoch(guide.events, TICKETS).values() for b in epoch]
    assert [b.size for b in batches[:8]] == [32] * 7 + [26]
    for batch in batches:
        values = batch.values
        weighted = values["priority_loss"] + 0.2 * values["department_loss"]
        assert values["loss"] == pytest.approx(weighted, rel=1e-4), batch.step


def test_the_toy_resnet(guide):
    start = {e.fit: e for e in guide.of_type("fit_start")}[RESNET]
    assert start.outputs == list(start.heads) == ["dense_1"]
    assert start.train_mode_layers == ["dropout: Dropout(0.5)"]
    kinds = {e.fit: e.kinds for e in guide.of_type("value_kinds")}[RESNET]
    assert kinds == {"loss": "mean", "acc": "mean"}
    assert assert_values_average_to_history(guide.events, RESNET) == 4
    assert min(recovered(guide.events, RESNET, "loss")) >= 0
    accuracies = recovered(guide.events, RESNET, "acc")
    assert len(accuracies) == 8 and all(0 <= a <= 1 for a in accuracies)
    # 24 images in the last batch: every accuracy is a whole number of them.
    assert all(abs(a * 24 - round(a * 24)) < 1e-3 for a in accuracies[3::4])
    (record,) = [r for r in guide.state.history if r.fit == RESNET and r.epoch == 0]
    (info,) = [f for f in guide.state.fits if f.fit == RESNET]
    text = explain_epoch(record, info)
    assert "weighted by batch size" in text
    assert "The last batch had 24 samples, not 32, and counts less." in text
    assert "with dropout: Dropout(0.5) active" in text


def test_no_warning_and_every_epoch_line_has_its_batch_losses(guide):
    assert not [n for n in guide.of_type("notice") if n.level == "warning"]
    epoch_lines = [line for line in guide.kmon_lines if line.startswith("[kmon] epoch ")]
    assert len(epoch_lines) == 4
    assert all(" · batch losses " in line for line in epoch_lines)
