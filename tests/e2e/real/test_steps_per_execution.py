"""A model compiled with ``steps_per_execution=8`` and ``jit_compile=True``, under the
real ``kmon train --headless``: Keras reports once per execution of 8 steps, so kmon
recovers each execution's mean loss, and says so, where it said the batch losses
were not recoverable while drawing them as "loss of each batch"; far below the
constant predictor, the Heads tab read "1e+02% better" (found trying a script as a
user would, 2026-12-04)."""

from __future__ import annotations

import pytest
from batch_identity import assert_values_average_to_history, batches_by_epoch
from textual.widgets import Label
from tui_helpers import replayed

from kmon.engine.view.explain import explain_epoch
from kmon.engine.view.head_cells import grid_rows, versus_constant
from kmon.tui.widgets.series_panel import SeriesPanel

SCRIPT = "steps_per_execution.py"
#: 4,240 training samples of 32: 133 steps, 16 executions of 8 and one of 5.
STEPS, LAST = 133, 5


@pytest.fixture(scope="module")
def run(real_run):
    return real_run.clean(SCRIPT)


def test_each_execution_is_one_batch_event_whose_values_average_to_history(run):
    (start,) = run.of_type("fit_start")
    assert (start.steps_per_execution, start.steps) == (8, STEPS)
    epochs = batches_by_epoch(run.events, 0)
    assert sorted(epochs) == [0, 1, 2, 3]
    for batches in epochs.values():
        assert [b.span for b in batches] == [8] * 16 + [LAST]
        assert [b.step for b in batches][-2:] == [127, STEPS - 1]
        assert sum(b.size for b in batches) == 4240
    assert assert_values_average_to_history(run.events, 0) == 2 * 4
    # validation_freq=2: val_loss at epochs 2 and 4 only.
    assert ["val_loss" in e.logs for e in run.of_type("epoch_end")] == [False, True, False, True]


def test_the_epoch_line_and_explanation_say_losses_are_per_execution(run):
    lines = [line for line in run.kmon_lines if line.startswith("[kmon] epoch ")]
    assert len(lines) == 4
    for line in lines:
        assert line.endswith(" · losses recovered per execution of 8 steps, not per batch"), line
    (info,) = run.state.fits
    assert info.steps_per_execution == 8
    text = explain_epoch(run.state.history[-1], info)
    assert "With steps_per_execution=8, Keras reports once every 8 steps" in text
    assert "the mean loss of each execution of 8 batches" in text
    assert "not recoverable" not in text


async def test_the_monitor_draws_the_loss_of_each_execution(run):
    async with replayed(run.events, (120, 40)) as (app, _pilot):
        values = app.query_one("#batch-values", SeriesPanel)
        assert str(values.border_title) == (
            "loss of each execution of 8 steps (recovered from Keras's running means)"
        )
        for panel in ("#batch-values", "#batch-loss"):
            stats = app.query_one(panel, SeriesPanel).query_one(".series-stats", Label)
            assert str(stats.content).endswith(" · 68 executions")


def test_a_loss_far_below_the_constant_is_a_percentage_without_an_exponent(run):
    total = next(row for row in grid_rows(run.state.heads) if row.head is None)
    cell = total.cells[("loss", "train")]
    assert cell.baseline is not None and cell.value < 0.005 * cell.baseline
    text = versus_constant(cell.value, cell.baseline)
    assert "e+" not in text
    assert text.endswith(f"{100 * (1 - cell.value / cell.baseline):.3g}% better"), text
