"""A titled sparkline with the numbers that matter beside it."""

from __future__ import annotations

import math
from collections.abc import Sequence

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.reactive import reactive
from textual.widgets import Label, Sparkline

from kmon.engine.format import format_value
from kmon.engine.series import BucketSeries

from .strip_sparkline import StripSparkline, column_summaries


class SeriesPanel(Vertical):
    """One series: a caption saying what it is, a sparkline and a stats line.

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

    caption: reactive[str] = reactive("")
    """What the series is, in words a newcomer understands."""

    def __init__(self, caption: str, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.border_title = caption
        self.caption = caption
        self._bars: tuple[int, ...] | None = None
        self._stats = "no data yet"

    def compose(self) -> ComposeResult:
        yield StripSparkline([], summary_function=max)
        yield Label("no data yet", classes="series-stats")

    def show(self, values: Sequence[float], stats: str) -> None:
        """Show new values; repaints only what would look different (every repaint
        costs the training thread time and the terminal bytes)."""
        finite = [v for v in values if math.isfinite(v)]
        sparkline = self.query_one(StripSparkline)
        bars = _bars(finite, sparkline.size.width)
        # The data is always current (a resize repaints from it); the repaint is
        # skipped when every bar keeps its height.
        sparkline.set_reactive(Sparkline.data, finite)
        if bars != self._bars:
            self._bars = bars
            sparkline.repaint()
        if stats != self._stats:
            label = self.query_one(".series-stats", Label)
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
