"""Healthy bundled scenarios raise neither overfitting nor unstable_training: noisy
per-batch losses (dropout, class weights, batches of 16), three heads with their own
validation losses, an LSTM on standardized data."""

from __future__ import annotations

import pytest
from scenario_helpers import run_scenario

HEALTHY = [
    ("history_vs_console", "noisy"),
    ("history_vs_console", "steady"),
    ("multi_head_metrics", "three_heads"),
    ("lstm_constant_predictions", "fixed"),
]


@pytest.mark.parametrize(("name", "variant"), HEALTHY, ids=[f"{n}-{v}" for n, v in HEALTHY])
def test_healthy_scenarios_raise_no_loss_alarm(tmp_path, name, variant):
    run = run_scenario(tmp_path, name, variant)
    assert run.status == "ok"
    alarms = [
        (e.kind, e.subject, e.message)
        for e in run.events
        if e.type == "alarm" and e.kind in ("overfitting", "unstable_training")
    ]
    assert alarms == []
    # Validation ran every epoch, so the overfitting rule had something to judge.
    assert all("val_loss" in record.logs for record in run.state.history)
