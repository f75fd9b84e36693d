"""Choose which variant of a scenario to run, its variants grouped by kind (the
problem, the article's examples, its remedies, other causes, fixes)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option

from kmon.scenarios.base import Scenario


def variant_options(scenario: Scenario) -> list[Option]:
    """One option per variant; a disabled heading before each group when the
    scenario sorts its variants into kinds (a plain list otherwise)."""
    groups = scenario.grouped_variants()
    options = []
    for heading, names in groups:
        if scenario.kinds:
            options.append(Option(f"[b]{heading}[/b]", disabled=True))
        for name in names:
            replays = scenario.replays.get(name)
            source = f" [dim]({replays})[/dim]" if replays else ""
            description = scenario.variants[name].replace("[", r"\[")
            indent = "  " if scenario.kinds else ""
            options.append(Option(f"{indent}{name}{source}: {description}", id=name))
    return options


class VariantPicker(ModalScreen[str | None]):
    """Dismisses with the chosen variant's name, or None."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Back")]

    def __init__(self, scenario: Scenario) -> None:
        super().__init__()
        self.scenario = scenario

    def compose(self) -> ComposeResult:
        with Vertical(id="variant-dialog"):
            yield Label(f"Run [b]{self.scenario.name}[/b] — which variant?")
            yield OptionList(*variant_options(self.scenario), id="variants")
            yield Label("Enter runs it · Esc goes back", classes="hint")

    def on_mount(self) -> None:
        options = self.query_one(OptionList)
        # Start on the first variant, not on a group's heading.
        first = next(
            (
                index
                for index in range(options.option_count)
                if not options.get_option_at_index(index).disabled
            ),
            None,
        )
        options.highlighted = first

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)
