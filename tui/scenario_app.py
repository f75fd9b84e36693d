"""The monitor for a bundled scenario: the same panes, plus its explanation on `e`."""

from __future__ import annotations

from textual.binding import Binding

from kmon.scenarios.base import Scenario

from .app import MonitorApp
from .screens.scenario_info import ScenarioInfo


class ScenarioMonitorApp(MonitorApp):
    """:class:`MonitorApp` that knows which scenario it shows.

    Args:
        scenario: the scenario being run.
        variant: its variant.
    """

    BINDINGS = [Binding("e", "explain", "Why")]
    RATIONED = False

    def __init__(self, source, *, scenario: Scenario, variant: str, **kwargs) -> None:
        super().__init__(source, **kwargs)
        self.scenario = scenario
        self.variant = variant

    def action_explain(self) -> None:
        self.push_screen(ScenarioInfo(self.scenario, self.variant, self.state))


class MenuScenarioMonitorApp(ScenarioMonitorApp):
    """Started from the menu: quitting goes back to it, and the key says so."""

    BINDINGS = [Binding("q", "quit_monitor", "Menu")]
