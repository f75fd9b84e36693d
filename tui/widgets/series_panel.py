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
        color: $text-muted;
    }
    """

    caption: reactive[str] = reactive("")
    """What the series is, in words a newcomer understands."""

    def __init__(self, caption: str, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.border_title = caption
        self.caption = caption

    def compose(self) -> ComposeResult:
        yield Sparkline([], summary_function=max)
        yield Label("no data yet", classes="series-stats")

    def show(self, values: Sequence[float], stats: str) -> None:
        finite = [v for v in values if math.isfinite(v)]
        self.query_one(Sparkline).data = finite
        self.query_one(".series-stats", Label).update(stats)


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
