"""Each claim of the History article holds or fails on its variant's run as its
recorded verdict says; what Keras prints is captured and read back from the log."""

from __future__ import annotations

import pytest
from claim_helpers import VariantRuns, assert_verdict, claim_ids

from kmon.scenarios import SCENARIOS

NAME = "history_vs_console"
SCENARIO = SCENARIOS[NAME]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return VariantRuns(tmp_path_factory.mktemp("claims_history"), NAME)


@pytest.mark.parametrize("claim", SCENARIO.claims, ids=claim_ids(NAME))
def test_claim_gives_its_verdict(runs, claim):
    assert_verdict(runs, claim)


def test_class_weights_as_an_array_fail_with_keras_own_error(runs):
    # kmon's hook must not replace the user's error with its own.
    run = runs["example3_as_written"]
    assert run.status == "failed"
    assert run.state.error["message"] == (
        "AttributeError: 'numpy.ndarray' object has no attribute 'get'"
    )


def test_verbose_2_prints_one_line_per_epoch_with_historys_value(runs):
    state = runs["example1"].state
    lines = [line.text for line in state.log_lines if " - loss: " in line.text]
    assert len(lines) == len(state.history) == 10
    assert f"loss: {state.history[-1].logs['loss']:.4f}" in lines[-1]
