"""A subclassed model with an ``add_loss()`` penalty and a custom Metric, under the
real ``kmon train --headless``: the logged loss adds the penalty, which the constant
predictor's loss leaves out, so kmon shows no constant beside it (it showed
"loss=0.6975 (constant 0.6913)", as if the model were worse than a constant, found
trying a script as a user would, 2026-12-04); the custom F1 is not recoverable."""

from __future__ import annotations

import pytest
from batch_identity import assert_values_average_to_history

from kmon.engine.view.head_cells import grid_rows

SCRIPT = "subclassed_add_loss.py"


@pytest.fixture(scope="module")
def run(real_run):
    return real_run.clean(SCRIPT)


def test_the_penalty_and_the_custom_metric_are_read_after_the_first_step(run):
    (kinds,) = run.of_type("value_kinds")
    assert kinds.extra_losses == ["activity_penalty.add_loss()"]
    assert kinds.kinds == {
        "loss": "mean",
        "f1": "not recoverable: F1Positive is not a running mean",
        "accuracy": "mean",
    }
    # Every epoch's loss and accuracy average back to History; f1 is absent.
    assert assert_values_average_to_history(run.events, 0) == 3 * 2


def test_no_constant_is_shown_beside_a_loss_that_adds_a_penalty(run):
    (baselines,) = run.of_type("baselines")
    assert baselines.total == pytest.approx(0.6913, abs=1e-3)  # still logged, as it was
    lines = [line for line in run.kmon_lines if line.startswith("[kmon] epoch ")]
    assert len(lines) == 3
    assert not any("constant" in line for line in lines), lines
    assert all("loss" not in record.baselines for record in run.state.history)
    total = next(row for row in grid_rows(run.state.heads) if row.head is None)
    assert total.cells[("loss", "train")].baseline is None
