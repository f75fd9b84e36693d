"""Two runs side by side: their epoch curves overlaid, their alarms next to each other."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Label, Static
from textual_plotext import PlotextPlot

from kmon.engine.format import format_value
from kmon.engine.log.eventlog import read_events
from kmon.engine.view.state import RunState

from ..widgets.epoch_chart import epoch_ticks


@dataclass(frozen=True)
class FinishedRun:
    """A run started from the menu, remembered for comparison."""

    scenario: str
    variant: str
    log_path: Path
    status: str

    @property
    def label(self) -> str:
        return f"{self.scenario} ({self.variant})"


def load_run(run: FinishedRun) -> tuple[RunState, list]:
    """The run's folded state and its alarm events, read back from its log."""
    events, _ = read_events(run.log_path)
    state = RunState()
    state.apply_all(events)
    return state, [event for event in events if event.type == "alarm"]


class CompareScreen(Screen[None]):
    """Overlays the epoch losses of two runs and lists their alarms."""

    BINDINGS = [Binding("escape,q,c", "app.pop_screen", "Back")]
    COLORS = ("cyan", "orange")

    def __init__(self, first: FinishedRun, second: FinishedRun) -> None:
        super().__init__()
        self.runs = (first, second)

    def compose(self) -> ComposeResult:
        yield Label(f"Compare: {self.runs[0].label}  vs  {self.runs[1].label}", id="compare-title")
        yield PlotextPlot(id="compare-chart")
        with Horizontal(id="compare-alarms"):
            for index, run in enumerate(self.runs):
                with Vertical(classes="compare-side"):
                    yield Label(f"[b]{run.label}[/b] · {run.status}")
                    yield Static("", id=f"alarms-{index}")
        yield Footer()

    def on_mount(self) -> None:
        plt = self.query_one(PlotextPlot).plt
        plt.title("loss per epoch (solid: History loss · dotted: val_loss)")
        every_number: set[int] = set()
        for index, (run, color) in enumerate(zip(self.runs, self.COLORS)):
            state, alarms = load_run(run)
            numbers = [record.number for record in state.history]
            every_number.update(numbers)
            for key, marker, suffix in (("loss", "braille", ""), ("val_loss", "dot", " val")):
                points = [
                    (n, v) for n, v in zip(numbers, state.epoch_series(key)) if math.isfinite(v)
                ]
                if points:
                    plt.plot(
                        *zip(*points), color=color, marker=marker, label=f"{run.variant}{suffix}"
                    )
            self.query_one(f"#alarms-{index}", Static).update(_describe(state, alarms))
        if every_number:
            plt.xticks(epoch_ticks(sorted(every_number)))

    @staticmethod
    def can_compare(
        runs: list[FinishedRun], scenario: str
    ) -> tuple[FinishedRun, FinishedRun] | None:
        """The two latest runs of ``scenario``, preferring two different variants."""
        mine = [run for run in runs if run.scenario == scenario]
        if len(mine) < 2:
            return None
        latest = mine[-1]
        other = next((run for run in reversed(mine) if run.variant != latest.variant), mine[-2])
        return other, latest


def _describe(state: RunState, alarms: list) -> str:
    final = state.last_epoch_logs
    lines = [
        f"{len(state.history)} epochs · final loss {format_value(final.get('loss'))}"
        f" · val_loss {format_value(final.get('val_loss'))}"
    ]
    raised = [alarm for alarm in alarms if getattr(alarm, "state", "") == "raised"]
    if not raised:
        lines.append("no alarms")
    for alarm in raised:
        lines.append(f"⚠ {alarm.kind}: {getattr(alarm, 'message', '')}".replace("[", r"\["))
    return "\n".join(lines)
