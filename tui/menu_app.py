"""`kmon` with no arguments: a menu of bundled scenarios, and a Runs tab with every
run of the user's (:mod:`.screens.runs`)."""

from __future__ import annotations

import importlib
import threading
import time

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Footer, Input, Label, OptionList, Static, TabbedContent, TabPane
from textual.widgets.option_list import Option

from kmon.scenarios.base import Scenario

from .runs_app import choice_for_compare, choice_for_open
from .screens.compare import CompareScreen, FinishedRun
from .screens.runs import RunsPanel
from .screens.scenario_info import describe_scenario
from .screens.variant_picker import VariantPicker


class FrameworkPreloader:
    """Imports Keras (and TensorFlow) in the background: it takes seconds, and the
    menu must be on screen at once. Started after the first frame."""

    def __init__(self) -> None:
        self._thread: threading.Thread | None = None
        self._started = 0.0
        self.seconds: float | None = None
        self.error: str | None = None

    def start(self) -> None:
        if self._thread is None:
            self._started = time.monotonic()
            self._thread = threading.Thread(target=self._load, name="kmon-preload", daemon=True)
            self._thread.start()

    def _load(self) -> None:
        try:
            importlib.import_module("keras")
        except Exception as exc:  # noqa: BLE001 - shown to the user, training will fail too
            self.error = f"{type(exc).__name__}: {exc}"
        self.seconds = time.monotonic() - self._started

    @property
    def status(self) -> str:
        if self.error:
            return f"TensorFlow failed to load: {self.error}"
        if self.seconds is not None:
            return f"TensorFlow ready ({self.seconds:.1f} s)"
        if self._thread is None:
            return "TensorFlow not loaded yet"
        return f"loading TensorFlow… {time.monotonic() - self._started:.0f} s"


class MenuApp(App[tuple | None]):
    """Pick a scenario and a variant; returns ``(name, variant)``, or None to quit.
    The Runs tab returns a run to open instead (see :mod:`.runs_app`).

    Args:
        scenarios: name -> scenario, in menu order.
        runs: runs finished earlier in this kmon session (for comparison).
        preloader: loads TensorFlow while the user reads.
    """

    CSS_PATH = "menu.tcss"
    TITLE = "kmon"
    BINDINGS = [
        Binding("q", "quit", "Quit"),
        Binding("slash", "focus_filter", "Filter", key_display="/"),
        Binding("c", "compare", "Compare runs"),
        Binding("escape", "focus_list", "List", show=False),
        Binding("1", "show_tab('scenarios-tab')", "Scenarios"),
        Binding("2", "show_tab('runs-tab')", "Runs"),
    ]

    def __init__(
        self,
        scenarios: dict[str, Scenario],
        runs: list[FinishedRun] | None = None,
        preloader: FrameworkPreloader | None = None,
        runs_dir: str = "kmon-runs",
    ) -> None:
        super().__init__()
        self.runs_dir = runs_dir
        self.scenarios = scenarios
        self.runs = list(runs or [])
        self.preloader = preloader or FrameworkPreloader()
        self._shown_status = ""
        self.close_request: str | None = None
        """Set from a signal handler (a hang-up, SIGTERM) to close the menu at the
        next check, through Textual, which gives the terminal back."""

    def compose(self) -> ComposeResult:
        with Horizontal(id="menu-top"):
            yield Label(
                "[b]kmon[/b] · bundled scenarios: real training runs, explained", id="menu-title"
            )
            yield Label(self.preloader.status, id="framework-status")
        with TabbedContent(initial="scenarios-tab", id="menu-tabs"):
            with TabPane("Scenarios", id="scenarios-tab"):
                with Horizontal(id="menu-body"):
                    with Vertical(id="menu-left"):
                        yield Input(placeholder="filter scenarios (/)", id="filter")
                        yield OptionList(id="scenario-list")
                        yield Label(self._runs_summary(), id="runs-summary")
                    with VerticalScroll(id="menu-info"):
                        yield Static("", id="scenario-text")
            with TabPane("Runs", id="runs-tab"):
                yield RunsPanel(self.runs_dir)
        yield Footer()

    def on_mount(self) -> None:
        self._fill_list("")
        self.query_one(OptionList).focus()
        # After the first frame: the menu must be on screen before the import starts.
        self.call_after_refresh(self._start_preloading)
        self.set_interval(0.5, self._show_framework_status)
        self.set_interval(0.1, self._check_close_request)

    def _check_close_request(self) -> None:
        if self.close_request is not None:
            self.exit(None)

    def _start_preloading(self) -> None:
        self.preloader.start()
        self._show_framework_status()

    def _show_framework_status(self) -> None:
        status = self.preloader.status
        if status != self._shown_status:  # redraw only on change: bytes cost over SSH
            self._shown_status = status
            self.query_one("#framework-status", Label).update(status)

    def _runs_summary(self) -> str:
        if not self.runs:
            return "Enter: run · c: compare two runs of a scenario"
        last = self.runs[-1]
        return f"{len(self.runs)} run(s) so far; last: {last.label} {last.status}"

    def _fill_list(self, text: str) -> None:
        needle = text.strip().lower()
        options = self.query_one(OptionList)
        options.clear_options()
        for scenario in self.scenarios.values():
            haystack = " ".join(
                (scenario.name, scenario.title, scenario.question, *scenario.variants)
            ).lower()
            if needle in haystack:
                options.add_option(
                    Option(
                        f"[b]{scenario.title}[/b]\n[dim]{scenario.name} · "
                        f"{_variants_summary(scenario)}[/dim]",
                        id=scenario.name,
                    )
                )
        if options.option_count:
            options.highlighted = 0
            # At once, not on the highlight message: inside the tabs it comes a
            # frame later, and the first frame must explain the first scenario.
            first = self.scenarios[options.get_option_at_index(0).id]
            self.query_one("#scenario-text", Static).update(describe_scenario(first))
        else:
            self.query_one("#scenario-text", Static).update(f"No scenario matches {text!r}.")

    def on_input_changed(self, event: Input.Changed) -> None:
        self._fill_list(event.value)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.action_focus_list()

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        if event.option_list.id != "scenario-list":
            return
        scenario = self.scenarios[event.option.id]
        self.query_one("#scenario-text", Static).update(describe_scenario(scenario))

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        if event.option_list.id != "scenario-list":
            return
        scenario = self.scenarios[event.option.id]
        self.push_screen(VariantPicker(scenario), lambda variant: self._chosen(scenario, variant))

    def _chosen(self, scenario: Scenario, variant: str | None) -> None:
        if variant:
            self.exit((scenario.name, variant))

    def action_show_tab(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab
        if tab == "runs-tab":
            self.query_one("RunsTable").focus()
        else:
            self.action_focus_list()

    def on_runs_panel_open_run(self, message: RunsPanel.OpenRun) -> None:
        self.exit(choice_for_open(message))

    def on_runs_panel_compare_runs(self, message: RunsPanel.CompareRuns) -> None:
        self.exit(choice_for_compare(message))

    def action_focus_filter(self) -> None:
        self.query_one("#filter", Input).focus()

    def action_focus_list(self) -> None:
        self.query_one(OptionList).focus()

    def action_compare(self) -> None:
        options = self.query_one(OptionList)
        if options.highlighted is None:
            return
        name = options.get_option_at_index(options.highlighted).id
        pair = CompareScreen.can_compare(self.runs, name)
        if pair is None:
            scenario = self.scenarios[name]
            fixes = [variant for variant, kind in scenario.kinds.items() if kind == "fix"]
            first, second, *_ = [scenario.default_variant, *fixes, *scenario.variants, "another"]
            if second == first:
                second = next(iter([*scenario.variants][1:]), "another")
            self.notify(
                f"Run two variants of {name} first (e.g. {first}, then {second}), then press c.",
                title="Nothing to compare yet",
            )
            return
        self.push_screen(CompareScreen(*pair))


def _variants_summary(scenario: Scenario) -> str:
    """The variants by name while they fit on a line, else counted (with claims)."""
    names = ", ".join(scenario.variants)
    claims = f" · {len(scenario.claims)} claims checked" if scenario.claims else ""
    if len(names) <= 48:
        return names + claims
    return f"{len(scenario.variants)} variants{claims}"
