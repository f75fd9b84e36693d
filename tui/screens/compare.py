"""Runs side by side: any metric of up to 8 runs overlaid in stable colours, on an
x axis and y scale the user picks, with a table of their final and best values,
fit settings, alarms and durations.

Opened from the menu (``c``: two variants of a scenario), by ``kmon compare A B
...``, and by any screen with logs to compare: ``CompareScreen(path, path, ...)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Label, Static
from textual.worker import get_current_worker

from kmon.engine.format import printable
from kmon.engine.log.compare_inputs import open_inputs, read_batches
from kmon.engine.log.compare_read import Stopped
from kmon.engine.view.compare import EPOCH, STEP, X_AXES, Comparison, fold_runs

from ..widgets.compare_chart import CompareChart


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


def load_comparison(
    runs: tuple[FinishedRun | str | Path, ...], runs_dir=None
) -> tuple[Comparison, list[str]]:
    """The runs read and folded, and one line per input that is not a run."""
    names = [str(run.log_path if isinstance(run, FinishedRun) else run) for run in runs]
    # Each log is folded while it is read: its events are never all in memory.
    return fold_runs(open_inputs(names, runs_dir))


class CompareScreen(Screen[None]):
    """Overlays one metric of several runs and tabulates them.

    Args:
        runs: finished menu runs, or paths (kmon logs, CSVLogger files,
            TensorBoard folders) or run ids of ``runs_dir``.
        comparison: the runs already read (``kmon compare`` reads them first).
        standalone: the app shows nothing else: going back quits.
    """

    DEFAULT_CSS = """
    CompareScreen #compare-title { background: $panel; width: 100%; padding: 0 1; }
    CompareScreen #compare-chart { height: 2fr; }
    CompareScreen #compare-caption { color: $text-muted; padding: 0 1; height: auto; }
    CompareScreen #compare-table { height: auto; max-height: 10; }
    CompareScreen #compare-runs { height: 1fr; padding: 0 1; }
    """

    BINDINGS = [
        Binding("escape,q,c", "back", "Back"),
        Binding("m", "metric(1)", "Metric"),
        Binding("M", "metric(-1)", "Metric back", show=False),
        # `t` as in the monitor (where `x` stops a run); `x` too, as nothing here stops.
        Binding("t,x", "axis", "X axis"),
        Binding("g", "log_scale", "Log y"),
        Binding("b", "level", "Batches/epochs"),
    ]

    def __init__(
        self,
        *runs: FinishedRun | str | Path,
        runs_dir=None,
        comparison: Comparison | None = None,
        standalone: bool = False,
    ) -> None:
        super().__init__()
        self.runs = runs
        self.problems: list[str] = []
        if comparison is None:
            comparison, self.problems = load_comparison(runs, runs_dir)
        self.comparison = comparison
        self.standalone = standalone
        self.metrics = comparison.metrics()
        self.metric = 0
        self.axis = EPOCH
        self.log_y = False
        self.batches = False

    def compose(self) -> ComposeResult:
        yield Label("", id="compare-title")
        yield CompareChart(id="compare-chart")
        yield Static("", id="compare-caption", markup=False)
        yield DataTable(id="compare-table", cursor_type="row", zebra_stripes=True)
        with Vertical(id="compare-runs"):
            for run in self.comparison.runs:
                yield Static(
                    self._describe(run), id=f"alarms-{run.index}", classes="compare-side"
                )
        yield Footer()

    def on_mount(self) -> None:
        for problem in self.problems:
            self.notify(printable(problem), severity="warning", markup=False, timeout=10)
        self._draw()
        if self.comparison.pending_batches():
            # The epoch view is drawn; the per-batch view's batches are read
            # behind it, in worker processes niced below the UI.
            self.run_worker(self._read_batches, thread=True, exit_on_error=False)

    def _read_batches(self) -> None:
        worker = get_current_worker()
        comparison = self.comparison
        try:
            read = read_batches(
                comparison.pending_batches(), nice=10, stop=lambda: worker.is_cancelled
            )
        except Stopped:
            return
        except Exception as exc:  # a worker's failure is shown, not raised
            read = [f"cannot read its batches ({exc})"] * len(comparison.pending_batches())
        if not worker.is_cancelled:
            try:
                self.app.call_from_thread(self._batches_read, read)
            except RuntimeError:
                pass  # the app closed meanwhile

    def _batches_read(self, read: list) -> None:
        self.comparison.add_batches(read)
        if self.batches:
            self._draw()

    @property
    def key(self) -> str:
        return self.metrics[self.metric] if self.metrics else "loss"

    def _draw(self) -> None:
        comparison, key = self.comparison, self.key
        self.query_one("#compare-title", Label).update(
            f"Compare {len(comparison.runs)} runs · metric {key} (m) · x: "
            f"{self._x_name()} (t) · y: "
            f"{'log' if self.log_y else 'linear'} (g) · {'batches' if self.batches else 'epochs'} (b)"
        )
        chart = self.query_one(CompareChart)
        chart.show(comparison, key, axis=self.axis, log_y=self.log_y, batches=self.batches)
        lacking = comparison.lacking()
        notes = [chart.caption] if chart.caption else []
        if not comparison.runs:
            # An empty table, and where each input was looked for.
            notes = ["no runs to compare: " + ("; ".join(self.problems) or "none given")]
        shared = comparison.shared()
        if lacking:
            notes.append("shared: " + (", ".join(shared) or "none"))
            notes += [f"{label} lacks {', '.join(keys)}" for label, keys in lacking.items()]
        self.query_one("#compare-caption", Static).update(printable(" · ".join(notes)))
        table = self.query_one(DataTable)
        table.clear(columns=True)
        rows = comparison.table([key])
        table.add_columns(*rows[0])
        for run, row in zip(comparison.runs, rows[1:]):
            table.add_row(f"[{run.colour}]●[/] {row[0]}", *row[1:])

    def _x_name(self) -> str:
        """The x axis as drawn: per batch, epoch and step are the batch number."""
        if self.batches and self.axis in (EPOCH, STEP):
            return "batch"
        return self.axis

    def _describe(self, run) -> str:
        state = run.state
        alarms = ", ".join(run.alarms) or "no alarms"
        status = state.status or "unfinished"
        return printable(
            f"● {run.label} · {run.kind} · {status} · {len(state.history)} epochs · "
            f"{alarms} · {run.fit_settings()}"
        )

    def action_metric(self, step: int) -> None:
        if self.metrics:
            self.metric = (self.metric + step) % len(self.metrics)
            self._draw()

    def action_axis(self) -> None:
        self.axis = X_AXES[(X_AXES.index(self.axis) + 1) % len(X_AXES)]
        self._draw()

    def action_log_scale(self) -> None:
        self.log_y = not self.log_y
        self._draw()

    def action_level(self) -> None:
        self.batches = not self.batches
        self._draw()

    def action_back(self) -> None:
        if self.standalone:
            self.app.exit()
        else:
            self.app.pop_screen()

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


class CompareApp(App[None]):
    """``kmon compare``: the compare screen alone."""

    def __init__(self, comparison: Comparison) -> None:
        super().__init__()
        self.comparison = comparison
        self.close_request: str | None = None

    def on_mount(self) -> None:
        self.push_screen(CompareScreen(comparison=self.comparison, standalone=True))
        self.set_interval(0.1, self._check_close_request)

    def _check_close_request(self) -> None:
        if self.close_request is not None:
            self.exit()
