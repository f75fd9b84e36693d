"""StripSparkline paints the same segments as Textual's own sparkline renderable,
for the data shapes the monitor meets (fewer points than columns, ties, one point,
none, negative values, spikes)."""

from __future__ import annotations

import random
import statistics

import pytest
from rich.color import Color
from rich.console import Console
from rich.style import Style
from textual.renderables.sparkline import Sparkline as SparklineRenderable

from kmon.tui.widgets.strip_sparkline import StripSparkline

MIN_COLOR, MAX_COLOR = Color.parse("#203040"), Color.parse("#0af0ff")


def textual_segments(data, width, summary=max):
    renderable = SparklineRenderable(
        data,
        width=width,
        height=1,
        min_color=MIN_COLOR,
        max_color=MAX_COLOR,
        summary_function=summary,
    )
    console = Console(width=width, color_system="truecolor")
    return [(s.text, s.style) for s in renderable.__rich_console__(console, console.options)]


def strip_segments(data, width, summary=max):
    widget = StripSparkline(summary_function=summary)
    segments = widget._segments(
        list(data), width, Style.from_color(MIN_COLOR), Style.from_color(MAX_COLOR)
    )
    return [(s.text, s.style) for s in segments]


def shapes():
    rng = random.Random(7)
    yield "none", [], 40
    yield "one", [3.0], 40
    yield "flat", [2.0] * 50, 40
    yield "fewer than columns", [rng.random() for _ in range(13)], 116
    yield "many", [rng.random() for _ in range(900)], 116
    yield "negative", [rng.uniform(-5, -1) for _ in range(300)], 77
    yield "spike", [1.0] * 500 + [50.0] + [1.0] * 499, 118
    yield "ramp", list(range(1000)), 1
    for width in (2, 3, 59, 60, 61):
        yield f"width {width}", [rng.gauss(0, 1) for _ in range(rng.randint(2, 400))], width


@pytest.mark.parametrize(
    ("data", "width"), [(d, w) for _, d, w in shapes()], ids=[name for name, _, _ in shapes()]
)
def test_same_segments_as_textuals_sparkline(data, width):
    assert strip_segments(data, width) == textual_segments(data, width)


def test_same_segments_with_another_summary_function():
    data = [random.Random(3).random() for _ in range(500)]
    assert strip_segments(data, 50, statistics.mean) == textual_segments(data, 50, statistics.mean)


@pytest.mark.parametrize(
    ("data", "width"), [(d, w) for _, d, w in shapes()], ids=[name for name, _, _ in shapes()]
)
def test_segments_under_a_base_style_are_the_strips_apply_style(data, width):
    """Each bar's style with the widget's own under it, made once a colour: the same
    segments as ``Strip.apply_style`` over the plain ones gave."""
    from textual.strip import Strip

    base = Style(bgcolor="#101820", bold=True)
    widget = StripSparkline()
    low, high = Style.from_color(MIN_COLOR), Style.from_color(MAX_COLOR)
    plain = Strip(widget._segments(list(data), width, low, high)).apply_style(base)
    for _ in range(2):  # the second time from the kept styles
        under = widget._segments(list(data), width, low, high, base)
        assert under == list(plain)
    # Without a base again: the plain styles, not those kept under the base.
    assert strip_segments(data, width) == [
        (s.text, s.style) for s in widget._segments(list(data), width, low, high)
    ]


async def test_a_series_panel_draws_only_the_finite_values():
    """NaN and infinities are left out of the drawing (they would flatten it); finite
    values whose sum overflows are all kept."""
    from textual.app import App

    from kmon.tui.widgets.series_panel import SeriesPanel

    class PanelApp(App):
        def compose(self):
            yield SeriesPanel("caption")

    app = PanelApp()
    async with app.run_test(size=(80, 10)) as pilot:
        panel = app.query_one(SeriesPanel)
        sparkline = panel.query_one(StripSparkline)
        for values, drawn in (
            ([1.0, float("nan"), 2.0, float("inf"), 3.0, -float("inf")], [1.0, 2.0, 3.0]),
            ([1e308, 1e308, -1.0], [1e308, 1e308, -1.0]),
            ([0.5, 0.25], [0.5, 0.25]),
        ):
            panel.show(values, "stats")
            await pilot.pause()
            assert list(sparkline.data) == drawn
