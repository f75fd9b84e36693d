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
