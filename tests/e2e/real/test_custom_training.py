"""The keras-io guide "Customizing what happens in fit()" and a VAE-like model whose
loss is all add_loss(), under the real ``kmon train --headless``: each tracker's
weighting is read right, no loss comes back negative, and the explanation states
the weighting that applies."""

from __future__ import annotations

import pytest
from batch_identity import assert_values_average_to_history, batches_by_epoch, recovered

from kmon.engine.view.explain import explain_epoch

FIRST_EXAMPLE = "custom_train_step.py"
VARIANTS = "custom_training_variants.py"
OWN_TRACKERS, WEIGHTED, VAE = 0, 1, 2


def epoch_text(run, fit: int, epoch: int = 0) -> str:
    (record,) = [r for r in run.state.history if r.fit == fit and r.epoch == epoch]
    (info,) = [f for f in run.state.fits if f.fit == fit]
    return explain_epoch(record, info)


@pytest.fixture(scope="module")
def first(real_run):
    return real_run.clean(FIRST_EXAMPLE)


@pytest.fixture(scope="module")
def variants(real_run):
    return real_run.clean(VARIANTS)


def test_the_guides_first_example_counts_its_loss_once_per_step(first):
    (kinds,) = first.of_type("value_kinds")
    assert kinds.kinds == {"loss": "step_mean", "mae": "mean"}
    assert assert_values_average_to_history(first.events, 0) == 6
    assert min(recovered(first.events, 0, "loss")) >= 0
    assert min(recovered(first.events, 0, "mae")) >= 0
    assert not [n for n in first.of_type("notice") if n.level == "warning"]
    assert [b.size for b in batches_by_epoch(first.events, 0)[0]] == [32] * 6 + [8]


def test_the_first_examples_explanation_says_every_step_counts_once(first):
    text = epoch_text(first, 0)
    assert "is the plain mean of this epoch's 7 batch losses" in text
    assert "The last batch had 8 samples, not 32, yet counts as much as the others." in text
    assert "weighted by batch size" not in text and "differs by" not in text


def test_the_first_examples_fit_start(first):
    (start,) = first.of_type("fit_start")
    assert start.outputs == list(start.heads) == ["dense"]
    assert start.extra_losses == ["CustomModel.train_step (overridden)"]


def test_own_trackers_are_read_from_their_counts(variants):
    kinds = {e.fit: e.kinds for e in variants.of_type("value_kinds")}
    assert kinds[OWN_TRACKERS] == {"loss": "step_mean", "mae": "mean"}
    assert assert_values_average_to_history(variants.events, OWN_TRACKERS) == 4
    assert min(recovered(variants.events, OWN_TRACKERS, "loss")) >= 0
    assert "plain mean of this epoch's 7 batch losses" in epoch_text(variants, OWN_TRACKERS)


def test_sample_weights_under_a_custom_step_leave_the_metrics_out(variants):
    kinds = {e.fit: e.kinds for e in variants.of_type("value_kinds")}
    assert kinds[WEIGHTED] == {
        "loss": "step_mean",
        "mae": "not recoverable: the overridden train_step may weight it by sample "
        "weights kmon cannot see",
    }
    assert assert_values_average_to_history(variants.events, WEIGHTED) == 2
    text = epoch_text(variants, WEIGHTED)
    assert "plain mean" in text and "fit() applied sample weights" in text


def test_a_loss_made_only_of_add_loss_is_named_and_weighted_by_samples(variants):
    starts = {e.fit: e for e in variants.of_type("fit_start")}
    kinds = {e.fit: e for e in variants.of_type("value_kinds")}
    # A subclassed model: its outputs are unknown before it is called.
    assert starts[VAE].outputs == [] and starts[VAE].heads is None
    assert starts[VAE].extra_losses == ["add_loss() (compile() got no loss)"]
    assert kinds[VAE].extra_losses == ["vae.add_loss()"]
    assert kinds[VAE].kinds == {"loss": "mean"}
    assert assert_values_average_to_history(variants.events, VAE) == 2
    assert min(recovered(variants.events, VAE, "loss")) >= 0  # a squared error plus a KL
    text = epoch_text(variants, VAE)
    assert "weighted by batch size" in text and "counts less" in text


def test_every_epoch_line_shows_a_batch_loss_range(variants):
    epoch_lines = [line for line in variants.kmon_lines if line.startswith("[kmon] epoch ")]
    assert len(epoch_lines) == 6
    assert all(" · batch losses " in line for line in epoch_lines)
    assert not any("not recoverable" in line for line in epoch_lines)
