"""A titled sparkline with the numbers that matter beside it, and the Loss tab's
panels for a model that logs no ``loss``."""

from __future__ import annotations

import math
from collections.abc import Sequence

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Label, Sparkline, Static

from kmon.engine.format import format_value
from kmon.engine.series import BucketSeries
from kmon.engine.view.state import RunState

from .strip_sparkline import StripSparkline, column_summaries


class SeriesPanel(Vertical):
    """One series: a caption (its border title) saying what it is, a sparkline and a
    stats line.

    Non-finite values are left out of the drawing (they would flatten it) and
    counted in the stats line instead.
    """

    DEFAULT_CSS = """
    SeriesPanel {
        height: auto;
        border-top: solid $primary 50%;
        padding: 0 1;
    }
    SeriesPanel > Sparkline {
        height: 1;
    }
    SeriesPanel > .series-stats {
        width: 1fr;
        color: $text-muted;
    }
    """

    def __init__(self, caption: str, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.border_title = caption
        self._bars: tuple[int, ...] | None = None
        self._stats = "no data yet"
        self._pending: tuple[Sequence[float], str] | None = None
        self._ready = False
        self._sparkline: StripSparkline
        self._label: Label

    def compose(self) -> ComposeResult:
        yield StripSparkline([], summary_function=max)
        yield Label("no data yet", classes="series-stats")

    def on_mount(self) -> None:
        # Found once: a DOM query at each redraw costs tens of µs of the UI thread.
        self._sparkline = self.query_one(StripSparkline)
        self._label = self.query_one(".series-stats", Label)
        self._ready = True
        if self._pending is not None:
            self.show(*self._pending)

    def show(self, values: Sequence[float], stats: str) -> None:
        """Show new values; repaints only what would look different (every repaint
        costs the training thread time and the terminal bytes)."""
        if not self._ready:  # mounted during a redraw: its children come later
            self._pending = (values, stats)
            return
        # A finite sum has no NaN or infinity in it (an overflow to inf only costs the
        # filtering): one pass in C where the filter is a Python loop a value.
        finite = values if math.isfinite(sum(values)) else [v for v in values if math.isfinite(v)]
        sparkline = self._sparkline
        bars = _bars(finite, sparkline.size.width)
        # The data is always current (a resize repaints from it); the repaint is
        # skipped when every bar keeps its height.
        sparkline.set_reactive(Sparkline.data, finite)
        if bars != self._bars:
            self._bars = bars
            sparkline.repaint()
        if stats != self._stats:
            label = self._label
            # One line as wide as the panel whatever the text: no layout pass, which
            # would make Textual render every widget on the screen again.
            label.update(stats, layout=False)
            self._stats = stats


def _bars(values: Sequence[float], width: int) -> tuple[int, ...] | None:
    """The bar heights Textual's sparkline draws for ``values`` at ``width`` (the
    same partition into columns, each the max of its part, 8 levels)."""
    count = len(values)
    if count < 2 or width < 1:
        return (count, width) if count else None
    low, high = min(values), max(values)
    extent = (high - low) or 1
    return tuple(int((top - low) / extent * 7) for top in column_summaries(values, width))


class MetricPanels(Vertical):
    """The batch panels of a model that logs no ``loss`` (a GAN's ``d_loss`` and
    ``g_loss``): one per logged metric, under its own name, showing its own
    values where kmon recovered them and else Keras's running mean, with a note
    saying why they are not recovered. Panels are made when a metric first comes
    and dropped when another model starts."""

    DEFAULT_CSS = """
    MetricPanels {
        height: auto;
        display: none;
    }
    MetricPanels > .metrics-note {
        padding: 0 1;
        color: $text-muted;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._panels: dict[str, SeriesPanel] = {}
        self._note = ""

    def compose(self) -> ComposeResult:
        yield Static("", classes="metrics-note")

    def show(self, state: RunState, *, log_scale: bool = False) -> None:
        metrics = state.metric_series
        for key in [key for key in self._panels if key not in metrics]:
            self._panels.pop(key).remove()
        note = metrics_note(state)
        if note != self._note:
            self._note = note
            self.query_one(".metrics-note", Static).update(note)
        for key, metric in metrics.items():
            recovered = len(metric.values) > 0
            series = metric.values if recovered else metric.running
            caption = f"{key}: " + (
                "each batch's own value (recovered from Keras's running means)"
                if recovered
                else "running mean over the epoch (what Keras's progress bar shows)"
            )
            panel = self._panels.get(key)
            if panel is None:
                panel = self._panels[key] = SeriesPanel(caption)
                self.mount(panel)
            elif panel.border_title != caption:
                panel.border_title = caption
            values = series.highs()
            if log_scale:
                values = [math.log10(v) if v > 0 else math.nan for v in values]
            panel.show(values, model_label(state) + describe_series(series, unit="batches"))


def metrics_note(state: RunState) -> str:
    """Why the Loss tab shows these metrics, and why not their own values."""
    if not state.metric_series:
        return ""
    note = f"This model logs no loss: its {', '.join(state.metric_series)} are drawn instead"
    by_reason: dict[str, list[str]] = {}
    for key, metric in state.metric_series.items():
        if not len(metric.values):
            by_reason.setdefault(unrecovered_reason(state, key), []).append(key)
    if len(by_reason) == 1 and sum(map(len, by_reason.values())) == len(state.metric_series):
        [reason] = by_reason
        return f"{note}, as Keras's running means (per-batch values not recoverable: {reason})."
    note += "."
    for reason, names in by_reason.items():
        note += f" {', '.join(names)}: running means (per-batch values not recoverable: {reason})."
    return note


def unrecovered_reason(state: RunState, key: str) -> str:
    """Why the current fit's ``key`` has no per-batch values (its ``value_kinds``)."""
    info = state.current_fit
    kind = info.value_kinds.get(key, "") if info is not None else ""
    reason = kind.partition("not recoverable: ")[2]
    return reason or "the batch sizes of this input are not known"


def model_label(state: RunState) -> str:
    """``model 3 (forecaster) · `` before a batch panel's stats once the run has
    trained more than one model: the panels hold the current model's batches."""
    segment = state.current_segment
    if segment is None or len(state.segments) < 2:
        return ""
    name = f" ({segment.model})" if segment.model else ""
    return f"model {segment.number + 1}{name} · "


def describe_series(series: BucketSeries, *, unit: str) -> str:
    """Stats of a bucketed series over every point it ever saw."""
    if not len(series):
        return "no data yet"
    parts = [f"last {format_value(series.last)}"]
    if series.buckets:
        parts += [f"min {format_value(series.low)}", f"max {format_value(series.high)}"]
    parts.append(f"{len(series):,} {unit}")
    if series.non_finite:
        parts.append(f"{series.non_finite} non-finite")
    return " · ".join(parts)
