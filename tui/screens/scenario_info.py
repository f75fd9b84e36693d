"""A scenario's explanation, a key away from its live run: the question, why, its
variants grouped by kind, its article's claims with their verdicts, and what the run
on screen said about the claims its variant tests."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from kmon.scenarios.base import Scenario

#: How each verdict starts, and its colour.
_VERDICT_STYLES = (("does not", "red"), ("holds only", "yellow"), ("holds", "green"))
_WORD_STYLES = {"confirmed": "green", "refuted": "red", "not shown yet": "dim"}


def describe_scenario(scenario: Scenario, variant: str | None = None, state=None) -> str:
    """Console markup: question, symptom, why, where to look, variants, claims.

    Args:
        scenario: the scenario.
        variant: the variant running (marked), if any.
        state: that run's :class:`~kmon.engine.view.state.RunState`: adds what the
            run said about the claims its variant tests, with its numbers.
    """
    lines = [
        f"[b]{_escape(scenario.title)}[/b]  ([i]{scenario.name}[/i])",
        "",
    ]
    if state is not None and variant is not None and scenario.claims_of(variant):
        lines += [*_run_claims(scenario, variant, state), ""]
    lines += [
        f"[b]The question[/b]  {_escape(scenario.question)}",
        "",
        f"[b]What you see[/b]  {_escape(scenario.symptom)}",
        "",
        f"[b]Why[/b]  {_escape(scenario.explanation)}",
        "",
        f"[b]Where to look[/b]  {_escape(scenario.look_at)}",
    ]
    for heading, names in scenario.grouped_variants():
        lines += ["", f"[b]{heading}[/b]"]
        for name in names:
            marker = "▶" if name == variant else "·"
            replays = scenario.replays.get(name)
            source = f" [dim]({replays})[/dim]" if replays else ""
            lines.append(f" {marker} [b]{name}[/b]{source}: {_escape(scenario.variants[name])}")
    if scenario.claims:
        sources = sorted({claim.source for claim in scenario.claims})
        lines += [
            "",
            f"[b]The article's claims, checked by running them[/b] ({', '.join(sources)})",
        ]
        for claim in scenario.claims:
            lines.append(
                f" · “{_escape(claim.text)}”  [{_verdict_style(claim.verdict)}]"
                f"{_escape(claim.verdict)}[/]  [dim](variant {claim.variant})[/dim]"
            )
    return "\n".join(lines)


def _run_claims(scenario: Scenario, variant: str, state) -> list[str]:
    """What this run said about its variant's claims (import deferred: the menu,
    which shows no run, must not load the view's modules)."""
    from kmon.engine.view.explain import explain_claims

    lines = [f"[b]This run ({variant}) and the article's claims[/b]"]
    for word, text, evidence in explain_claims(scenario.claims_of(variant), state):
        lines.append(f" [{_WORD_STYLES[word]}]{word}[/]: “{_escape(text)}” {_escape(evidence)}")
    return lines


def _verdict_style(verdict: str) -> str:
    return next((style for start, style in _VERDICT_STYLES if verdict.startswith(start)), "b")


def _escape(text: str) -> str:
    return text.replace("[", r"\[")


class ScenarioInfo(ModalScreen[None]):
    """Shows :func:`describe_scenario` over the monitor."""

    BINDINGS = [Binding("escape,e,q", "dismiss", "Close")]

    def __init__(self, scenario: Scenario, variant: str | None = None, state=None) -> None:
        super().__init__()
        self._text = describe_scenario(scenario, variant, state)

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="scenario-info"):
            yield Static(self._text)
