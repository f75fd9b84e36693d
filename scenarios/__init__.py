"""Bundled scenarios: small real training runs that replay classic confusions."""

from __future__ import annotations

from .base import Scenario
from .history_vs_console import SCENARIO as HISTORY_VS_CONSOLE

SCENARIOS: dict[str, Scenario] = {scenario.name: scenario for scenario in (HISTORY_VS_CONSOLE,)}

#: What plain ``kmon`` runs until the scenario menu lands.
DEFAULT_SCENARIO = HISTORY_VS_CONSOLE.name


class UnknownScenario(LookupError):
    """A scenario or variant name that does not exist; the message lists valid ones."""


def find(name: str, variant: str | None = None) -> tuple[Scenario, str]:
    """Look up a scenario and variant by name.

    Raises:
        UnknownScenario: with a one-line message naming the valid choices.
    """
    scenario = SCENARIOS.get(name)
    if scenario is None:
        raise UnknownScenario(f"unknown scenario {name!r}; choose from: {', '.join(SCENARIOS)}")
    chosen = variant or scenario.default_variant
    if chosen not in scenario.variants:
        raise UnknownScenario(
            f"unknown variant {chosen!r} of {name}; choose from: {', '.join(scenario.variants)}"
        )
    return scenario, chosen
