"""Each claim of the multi-head article holds or fails on its variant's run as its
recorded verdict says; the "as written" examples fail with the error explained."""

from __future__ import annotations

import pytest
from claim_helpers import VariantRuns, assert_verdict, claim_ids

from kmon.engine.view.explain import explain_claims
from kmon.scenarios import SCENARIOS, multi_head_examples, multi_head_metrics

NAME = "multi_head_metrics"
SCENARIO = SCENARIOS[NAME]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    patch = pytest.MonkeyPatch()
    # One epoch shows every key History logs and every error.
    patch.setattr(multi_head_examples, "EPOCHS", 1)
    patch.setattr(multi_head_metrics, "EPOCHS", 1)
    yield VariantRuns(tmp_path_factory.mktemp("claims_heads"), NAME)
    patch.undo()


@pytest.mark.parametrize("claim", SCENARIO.claims, ids=claim_ids(NAME))
def test_claim_gives_its_verdict(runs, claim):
    assert_verdict(runs, claim)


def test_as_written_examples_fail_with_the_error_their_description_names(runs):
    errors = {
        "example1_as_written": "SyntaxError: invalid syntax. Perhaps you forgot a comma?",
        "example2_as_written": "TypeError: 'NoneType' object is not iterable",
        "example3_as_written": "AttributeError: module 'keras.backend' has no attribute 'mean'",
    }
    for variant, error in errors.items():
        run = runs[variant]
        assert run.status == "failed"
        assert run.state.error["message"].startswith(error)
    # The traceback points at the article's own line.
    assert "000 example 1" in runs["example1_as_written"].state.error["traceback"]


def test_every_article_example_has_a_variant():
    replayed = set(SCENARIO.replays.values())
    assert replayed == {f"000 example {n}" for n in (1, 2, 3)}
    assert {claim.variant for claim in SCENARIO.claims} <= set(SCENARIO.variants)


def test_the_explanation_says_which_claims_this_run_confirmed_or_refuted(runs):
    state = runs["three_heads"].state
    explained = explain_claims(SCENARIO.claims_of("three_heads"), state)
    assert [word for word, _, _ in explained] == ["refuted", "confirmed", "confirmed"]
    word, text, evidence = explained[0]
    assert text.startswith("this behavior indicates a model with three output heads")
    assert "History logged 4 losses" in evidence and "2 accuracies" in evidence
