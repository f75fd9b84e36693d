"""A plotext chart widget that imports plotext only when it first plots.

textual-plotext's ``PlotextPlot`` imports plotext with itself: 20-30 ms of a
replay's start before its first frame (``kmon replay``'s header), for a chart
that has no epoch to draw yet. :class:`LazyPlot` is that widget (the same CSS,
``theme`` reactive, theme registration and ``render``) with plotext imported
at the first use of :attr:`LazyPlot.plt`. A subclass decides when that is; until
then :attr:`LazyPlot.loaded` is False and it must draw nothing with plotext.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import RenderResult
from textual.color import Color
from textual.reactive import reactive
from textual.widget import Widget

from .ansi_lines import AnsiLines


class LazyPlot(Widget):
    """textual-plotext's ``PlotextPlot``, plotext imported at the first ``plt``."""

    DEFAULT_CSS = """
    LazyPlot {
        width: 1fr;
        height: 1fr;
    }
    """

    theme: reactive[str] = reactive("auto")
    """The plotext theme; "auto": the Textual app's colours (as ``PlotextPlot``)."""

    def __init__(
        self,
        *,
        name: str | None = None,
        id: str | None = None,  # noqa: A002 (Textual's name)
        classes: str | None = None,
        disabled: bool = False,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes, disabled=disabled)
        self._plot: Any = None
        self._ansi = AnsiLines()

    @property
    def loaded(self) -> bool:
        """plotext was imported and the plot made (:attr:`plt` was used)."""
        return self._plot is not None

    @property
    def plt(self) -> Any:
        """The plotext plotting object (``textual_plotext``'s ``Plot``), made at the
        first use, with the app's theme registered."""
        if self._plot is None:
            from textual_plotext.plot import Plot

            self._plot = Plot()
            if self.is_mounted:
                self._register_theme(self.app.theme)
        return self._plot

    def on_mount(self) -> None:
        self.app.theme_changed_signal.subscribe(
            self, lambda theme: self._register_theme(theme.name)
        )
        if self._plot is not None:
            self._register_theme(self.app.theme)

    def render(self) -> RenderResult:
        """plotext's chart at the widget's size (``PlotextPlot.render``)."""
        return Text("\n").join(self.plot_lines())

    def plot_lines(self) -> list[Text]:
        """plotext's chart at the widget's size, a ``Text`` a line: what
        ``PlotextPlot.render`` gives, split (read by :class:`~.ansi_lines.AnsiLines`,
        about 0.4 ms where ``Text.from_ansi`` and the split took 2.5-3)."""
        plot = self.plt
        plot.plotsize(self.size.width, self.size.height)
        # As PlotextPlot does: without it resizing does not take
        # (https://github.com/Textualize/textual-plotext/issues/5).
        plot._set_size(self.size.width, self.size.height)
        plot.theme(self._theme_name(self.app.theme))
        return self._ansi.lines(plot.build())

    def _register_theme(self, app_theme_name: str) -> None:
        """An "auto" theme's colours registered with plotext (once plotext is
        imported: :attr:`plt` registers the app's theme then)."""
        if self.theme != "auto" or self._plot is None:
            return
        from plotext._dict import themes
        from textual_plotext.plot import _rgbify_theme, _sequence

        name = self._theme_name(app_theme_name)
        variables = self.app.theme_variables
        if name not in themes:
            surface = Color.parse(variables.get("surface")).rgb
            themes[name] = _rgbify_theme(
                surface,
                surface,
                Color.parse(variables.get("foreground")).rgb,
                "default",
                _sequence,
            )
        self.refresh()

    def _theme_name(self, app_theme_name: str) -> str:
        return f"textual-auto-{app_theme_name}" if self.theme == "auto" else self.theme

