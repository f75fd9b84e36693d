"""Choose which variant of a scenario to run."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option

from kmon.scenarios.base import Scenario


class VariantPicker(ModalScreen[str | None]):
    """Dismisses with the chosen variant's name, or None."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Back")]

    def __init__(self, scenario: Scenario) -> None:
        super().__init__()
        self.scenario = scenario

    def compose(self) -> ComposeResult:
        with Vertical(id="variant-dialog"):
            yield Label(f"Run [b]{self.scenario.name}[/b] — which variant?")
            yield OptionList(
                *(
                    Option(f"{name}: {description}", id=name)
                    for name, description in self.scenario.variants.items()
                ),
                id="variants",
            )
            yield Label("Enter runs it · Esc goes back", classes="hint")

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)
