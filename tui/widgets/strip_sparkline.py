"""Textual's sparkline, painted straight into a strip."""

from __future__ import annotations

from collections.abc import Sequence

from rich.color import Color
from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip
from textual.widgets import Sparkline

BARS = "▁▂▃▄▅▆▇█"


def column_summaries(data: Sequence[float], width: int, summary=max) -> list[float]:
    """Textual's sparkline's partition of ``data`` into ``width`` columns, each
    summarized; empty parts (fewer points than columns) are left out, as there.
    ``int(Fraction(count, width) * i)`` is ``(count * i) // width``: exact, and cheap."""
    count = len(data)
    bounds = [(count * i) // width for i in range(width + 1)]
    return [summary(data[start:end]) for start, end in zip(bounds, bounds[1:]) if end > start]


class StripSparkline(Sparkline):
    """Draws what :class:`~textual.widgets.Sparkline` draws (one line high), from
    the same data and colours, without its renderable and Textual's content
    pipeline.

    Textual's sparkline partitions the data with ``Fraction`` arithmetic and makes
    a style per bar, then goes through Rich's console: about 1.5 ms at 120 columns,
    holding the GIL the training thread needs, each time the data changes. Integer
    partitions and a style per colour give the same segments (the snapshot tests
    compare them with the original's screens) in a fraction of that.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._strip: tuple[tuple, Strip] | None = None
        self._styles: dict[tuple[int, int, int], Style] = {}
        self._base: Style | None = None

    def repaint(self) -> None:
        """The data changed: paint the line anew."""
        self._strip = None
        self.refresh()

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        if y:
            return Strip.blank(width, self.rich_style)
        base = self.rich_style
        key = (width, self.app.theme, base)
        if self._strip is None or self._strip[0] != key:
            # Sparkline.render() resolves the colours; its renderable is not drawn.
            spec = self.render()
            segments = self._segments(
                list(self.data or []), width, spec.min_color, spec.max_color, base
            )
            # One cell a bar: the strip's width is known, and the widget's own style
            # is already under each bar's (what ``Strip.apply_style`` would add, a
            # ``Style.__add__`` a bar at each repaint).
            strip = Strip(segments, width)
            self._strip = (key, strip)
        return self._strip[1]

    def _segments(
        self,
        data: list[float],
        width: int,
        min_style: Style,
        max_style: Style,
        base: Style | None = None,
    ) -> list[Segment]:
        """textual.renderables.sparkline.Sparkline.__rich_console__ at height 1,
        each segment's style under ``base`` (``base + style``) when given."""
        if base != self._base:
            self._base, self._styles = base, {}
        colors = min_style.color, max_style.color
        if base is not None:
            min_style, max_style = base + min_style, base + max_style
        count = len(data)
        if count == 0:
            return [Segment("▁" * width, min_style)]
        if count == 1:
            return [Segment("█" * width, max_style)]
        minimum, maximum = min(data), max(data)
        extent = maximum - minimum or 1
        buckets = column_summaries(data, width, self.summary_function)
        low, high = (color.triplet for color in colors)
        segments = []
        step = len(buckets) / width
        index = 0.0
        for _ in range(width):
            ratio = (buckets[int(index)] - minimum) / extent
            index += step
            bar = BARS[int(ratio * 7) % 8]
            segments.append(Segment(bar, self._style(low, high, ratio, max_style, base)))
        return segments

    def _style(self, low, high, ratio: float, max_style: Style, base: Style | None) -> Style:
        """The blended colour's style (textual.renderables._blend_colors) under
        ``base``, kept (for one ``base``: a new one empties the cache)."""
        if low is None or high is None:
            return max_style
        rgb = (
            int(low[0] + (high[0] - low[0]) * ratio),
            int(low[1] + (high[1] - low[1]) * ratio),
            int(low[2] + (high[2] - low[2]) * ratio),
        )
        style = self._styles.get(rgb)
        if style is None:
            style = Style.from_color(Color.from_rgb(*rgb))
            style = self._styles[rgb] = style if base is None else base + style
        return style
