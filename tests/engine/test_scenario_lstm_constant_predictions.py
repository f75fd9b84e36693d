"""The lstm_constant_predictions scenario, through a real session with kmon's default
probe settings (time budget, not a fixed schedule): the broken variant's predictions
collapse and the alarm fires within the first five epochs (the probes run on a
share of training time, so how many fit in an epoch depends on the machine's load);
the fixed variant tracks the series and stays silent. Five epochs instead of the
scenario's fifteen."""

from __future__ import annotations

import pytest
from scenario_helpers import run_scenario

from kmon.engine.view.state import RunState
from kmon.scenarios import lstm_constant_predictions as module

#: Epochs each variant trains here. Two were not always enough under load.
EPOCHS = 5


def run_variant(folder, variant: str, **session_options) -> tuple[RunState, list]:
    run = run_scenario(folder, "lstm_constant_predictions", variant, **session_options)
    return run.state, run.events


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("lstm_constant_predictions")
    patch = pytest.MonkeyPatch()
    patch.setattr(module, "EPOCHS", EPOCHS)
    try:
        return {variant: run_variant(folder, variant) for variant in ("broken", "fixed")}
    finally:
        patch.undo()


def test_broken_collapses_and_the_alarm_says_so_within_five_epochs(runs):
    state, events = runs["broken"]
    kinds = {kind for kind, _ in state.alarms}
    assert {"unscaled_data", "prediction_variance"} <= kinds
    collapse = next(e for e in events if e.type == "alarm" and e.kind == "prediction_variance")
    assert collapse.epoch < EPOCHS  # Keras's 0-based epoch
    assert collapse.evidence["ratio"] < 1e-3
    assert collapse.evidence["target_std"] > 300
    assert state.history[-1].logs["loss"] > 1e6  # predictions stuck far from the targets


def test_fixed_tracks_the_series_and_stays_silent(runs):
    state, events = runs["fixed"]
    assert not [e for e in events if e.type == "alarm"]
    assert state.history[-1].logs["loss"] < 0.5
    assert not [n for n in state.notices if n.text.startswith("alarms:")]


def test_exploding_variant_raises_nan_loss_and_stop_on_nan_stops_it(tmp_path, monkeypatch):
    monkeypatch.setattr(module, "EPOCHS", 3)
    state, events = run_variant(tmp_path, "exploding", stop_on_nan=True)
    nan = state.alarms[("nan_loss", None)]
    assert nan.severity == "error" and nan.epoch == 0
    assert state.status == "stopped"
    assert len(state.history) == 1  # stopped in the first epoch
