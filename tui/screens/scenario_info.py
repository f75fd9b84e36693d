"""A scenario's explanation, a key away from its live run."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from kmon.scenarios.base import Scenario


def describe_scenario(scenario: Scenario, variant: str | None = None) -> str:
    """Console markup: question, symptom, why, where to look, variants."""
    lines = [
        f"[b]{_escape(scenario.title)}[/b]  ([i]{scenario.name}[/i])",
        "",
        f"[b]The question[/b]  {_escape(scenario.question)}",
        "",
        f"[b]What you see[/b]  {_escape(scenario.symptom)}",
        "",
        f"[b]Why[/b]  {_escape(scenario.explanation)}",
        "",
        f"[b]Where to look[/b]  {_escape(scenario.look_at)}",
        "",
        "[b]Variants[/b]",
    ]
    for name, description in scenario.variants.items():
        marker = "▶" if name == variant else "·"
        lines.append(f" {marker} [b]{name}[/b]: {_escape(description)}")
    return "\n".join(lines)


def _escape(text: str) -> str:
    return text.replace("[", r"\[")


class ScenarioInfo(ModalScreen[None]):
    """Shows :func:`describe_scenario` over the monitor."""

    BINDINGS = [Binding("escape,e,q", "dismiss", "Close")]

    def __init__(self, scenario: Scenario, variant: str | None = None) -> None:
        super().__init__()
        self._text = describe_scenario(scenario, variant)

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="scenario-info"):
            yield Static(self._text)
