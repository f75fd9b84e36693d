"""Shared by the claim tests: one run per variant, shared by that variant's claims."""

from __future__ import annotations

import time

import pytest
from claim_runs import run_variant

from kmon.engine.view.claim_checks import check_claim
from kmon.scenarios import SCENARIOS


class VariantRuns:
    """Runs each variant of a scenario once, on first use, and keeps the run."""

    def __init__(self, folder, name: str, before=None) -> None:
        """``before(variant)``: called before a variant's run (to scale it down)."""
        self.folder, self.name, self.before = folder, name, before
        self.runs: dict = {}
        self.seconds: dict[str, float] = {}

    def __getitem__(self, variant: str):
        if variant not in self.runs:
            if self.before is not None:
                self.before(variant)
            started = time.monotonic()
            self.runs[variant] = run_variant(self.folder, self.name, variant)
            self.seconds[variant] = time.monotonic() - started
        return self.runs[variant]


def claim_ids(name: str) -> list[str]:
    return [f"{claim.variant}-{index}" for index, claim in enumerate(SCENARIOS[name].claims)]


def assert_verdict(runs: VariantRuns, claim) -> None:
    """The claim's run gives the claim's recorded verdict (a later Keras that changes
    the behaviour fails here instead of leaving a false verdict on screen)."""
    run = runs[claim.variant]
    result = check_claim(claim.check, run.state)
    if result.holds is None:
        pytest.fail(f"{claim.variant} could not decide {claim.check}: {result.evidence}")
    assert result.holds == claim.holds, (
        f"“{claim.text}” was recorded as {claim.verdict!r}, but the {claim.variant} run "
        f"says otherwise: {result.evidence}"
    )
