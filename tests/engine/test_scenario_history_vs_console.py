"""The history_vs_console scenario really shows four different numbers, and its
steady variant shows them closer together."""

from __future__ import annotations

import pytest
from scenario_helpers import run_scenario

from kmon.engine.view.state import RunState


def run_variant(folder, variant: str) -> RunState:
    run = run_scenario(folder, "history_vs_console", variant)
    assert run.status == "ok"
    return run.state


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("history_vs_console")
    return {variant: run_variant(folder, variant) for variant in ("noisy", "steady")}


def test_the_four_numbers_differ(runs):
    final = runs["noisy"].history[-1]
    history = final.logs["loss"]
    evaluated = final.train_eval["loss"]
    validation = final.logs["val_loss"]
    losses = final.batch_losses
    assert losses is not None and losses.count == final.steps
    # History is the sample-weighted mean of the recovered batch losses...
    assert losses.mean == pytest.approx(history, rel=1e-4)
    # ...which spread widely around it, and the other numbers are not History.
    assert losses.low < 0.5 * history < history < 1.5 * history < losses.high
    assert abs(evaluated - history) > 0.01
    assert abs(validation - history) > 0.001
    layers = runs["noisy"].fits[0].train_mode_layers
    assert layers and "Dropout(0.5)" in layers[0]
    assert runs["noisy"].fits[0].weighting == "class_weight"


def test_steady_variant_shrinks_the_gaps(runs):
    def spread(state: RunState) -> float:
        losses = state.history[-1].batch_losses
        return (losses.high - losses.low) / losses.mean

    assert spread(runs["steady"]) < spread(runs["noisy"]) / 2
    assert runs["steady"].fits[0].train_mode_layers == []
