"""Each claim of the LSTM article holds or fails on its variant's run as its recorded
verdict says. Fewer epochs than the scenario's, where the outcome is settled by then:
a model fed the raw series predicts a constant from its first epoch to its last (its
loss stays 28 times the best constant's), so those variants run one epoch; the
variants that learn, or learn too little, run four (the fixed model is then under a
fifth of the constant's loss, the one-unit and the padded ones above half of it);
the overfitting pair runs 10 of its 20 epochs (overfitting is raised at the 7th
without dropout, at the 8th with it: the first epochs do not depend on how many
follow)."""

from __future__ import annotations

import pytest
from claim_helpers import VariantRuns, assert_verdict, claim_ids

from kmon.scenarios import SCENARIOS
from kmon.scenarios import lstm_constant_predictions as module

NAME = "lstm_constant_predictions"
SCENARIO = SCENARIOS[NAME]
#: Variants whose data is standardized: they need epochs to show what they learn.
LEARNING = {"fixed", "padded", "padded_masked", "under_capacity"}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    patch = pytest.MonkeyPatch()
    patch.setattr(module, "LARGE_EPOCHS", 1)
    patch.setattr(module, "OVERFIT_EPOCHS", 10)

    def scale(variant: str) -> None:
        patch.setattr(module, "EPOCHS", 4 if variant in LEARNING else 1)

    yield VariantRuns(tmp_path_factory.mktemp("claims_lstm"), NAME, before=scale)
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
