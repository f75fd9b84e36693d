"""Each claim of the LSTM article holds or fails on its variant's run as its recorded
verdict says. Fewer epochs than the scenario's (the runs' outcomes are settled by
then: a constant predictor stays one, the fixed model is under half the constant's
loss), except for the overfitting pair, which needs its epochs."""

from __future__ import annotations

import pytest
from claim_helpers import VariantRuns, assert_verdict, claim_ids

from kmon.scenarios import SCENARIOS
from kmon.scenarios import lstm_constant_predictions as module

NAME = "lstm_constant_predictions"
SCENARIO = SCENARIOS[NAME]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    patch = pytest.MonkeyPatch()
    patch.setattr(module, "EPOCHS", 4)
    patch.setattr(module, "LARGE_EPOCHS", 2)
    yield VariantRuns(tmp_path_factory.mktemp("claims_lstm"), NAME)
    patch.undo()


@pytest.mark.parametrize("claim", SCENARIO.claims, ids=claim_ids(NAME))
def test_claim_gives_its_verdict(runs, claim):
    assert_verdict(runs, claim)


def test_every_article_example_and_remedy_has_a_variant():
    assert set(SCENARIO.replays.values()) == {f"002 example {n}" for n in (1, 2, 3)}
    remedies = {name for name, kind in SCENARIO.kinds.items() if kind == "remedy"}
    assert remedies == {"clipnorm", "relu", "stacked", "dropout"}
    for cause in ("padded", "missing_values", "under_capacity", "overfit"):
        assert SCENARIO.kinds[cause] == "cause"
    assert {claim.variant for claim in SCENARIO.claims} <= set(SCENARIO.variants)
