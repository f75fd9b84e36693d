"""Epoch curves drawn with plotext: History's loss, val_loss and, when the run asked
for it, the loss evaluate() gives on the training data; a model that logs no loss
gets its own values instead. Each model of the run has its own stretch of the
curves, marked with its name.

The user's view of it (:class:`ChartView`): the metric filter picks other curves,
the bias-corrected EMA smooths them (over the values as logged, drawn in gray),
the x axis is the epoch, the step, the wall time or the time since the run
started, and the y axis linear or log. A cursor reads one epoch's values."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

from textual import events
from textual.binding import Binding
from textual.geometry import Size
from textual.strip import Strip

from kmon.engine.view.epoch_axes import cursor_reading, nearest_epoch, x_positions, x_ticks
from kmon.engine.view.state import METRIC_SERIES, RunState

from .epoch_lines import (
    CONSTANT_LABEL,
    LONE_MARKER,
    RAW_COLOR,
    RAW_LABEL,
    Scale,
    constant_lines,
    epoch_ticks,
    mark_models,
    plot_by_model,
)
from .lazy_plot import LazyPlot
from .metric_filter import metric_matcher

__all__ = ["CONSTANT_LABEL", "LONE_MARKER", "EpochChart", "drawn_keys", "epoch_ticks"]

TRAIN_EVAL_LABEL = "evaluate() on train"
#: Colours of the training values (History's loss cyan) and of validation's.
_TRAIN_COLORS = ("cyan", "magenta", "blue", "red", "white", "gray+")
_VAL_COLORS = ("orange", "magenta+", "blue+", "red+", "gray", "orange+")
CURSOR_COLOR = "yellow"
#: Under the focused chart before its cursor is placed.
CURSOR_HINT = "← →: read the values of one epoch · Esc: hide"


@dataclass(frozen=True, slots=True)
class ChartView:
    """How the chart is drawn: the user's choices, never the data."""

    filter: str = ""
    """The metric filter's text (see :mod:`.metric_filter`); empty: no filter."""
    smoothing: float = 0.0
    """Weight of the past in the bias-corrected EMA drawn over the values (0: none)."""
    x_mode: str = "epoch"
    """One of :data:`~kmon.engine.view.epoch_axes.X_MODES`."""
    log_y: bool = False


#: From this magnitude on, the linear y axis is labelled in three significant digits.
LONG_LABELS = 1e6


class EpochChart(LazyPlot):
    """Redraws only when a new epoch ended or the view changed.

    Plotext builds the whole chart in Python, and turning its output into strips
    costs as much again (several ms at 120x40, holding the GIL the training thread
    needs). Textual asks for every line again after any layout pass, so the strips
    are kept until the data, the view, the size or the theme changes.

    Focused (Tab, or a click on it), ← and → move a cursor from epoch to epoch that
    reads every value the epoch logged, under the chart; Escape hides it.

    plotext is imported after the first frame (:class:`~.lazy_plot.LazyPlot`):
    that frame, a run's header and panels with no epoch yet, comes 20-30 ms
    sooner, and the chart one frame later.
    """

    DEFAULT_CSS = """
    EpochChart {
        height: 1fr;
        min-height: 6;
    }
    """

    can_focus = True
    BINDINGS = [
        Binding("left", "move_cursor(-1)", "Earlier epoch", show=False),
        Binding("right", "move_cursor(1)", "Later epoch", show=False),
        Binding("home", "cursor_to(0)", "First epoch", show=False),
        Binding("end", "cursor_to(-1)", "Last epoch", show=False),
        Binding("escape", "hide_cursor", "Hide cursor", show=False),
    ]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._epochs_drawn = -1
        self._generation = 0
        self._strips: tuple[tuple, list[Strip]] | None = None
        self._state: RunState | None = None
        self._plotted_size: Size | None = None
        """The size the model names were placed for."""
        self.view = ChartView()
        self.cursor: int | None = None
        """Index in the run's history of the epoch the cursor reads; None: no cursor."""
        self.cursor_text = ""
        """What the cursor reads (the line under the chart)."""
        self.caption = ""
        """The chart's title: what it draws, and how."""
        self._xs: list[float] = []
        self._hint = False
        self._ready = False
        """plotext is imported (after the first frame): the chart draws."""

    def on_show(self) -> None:
        # Shown after the layout pass that drew the first frame (a callback after
        # refresh may run before it, while the screen is not laid out yet).
        if not self._ready:
            self.call_after_refresh(self._load)

    def _load(self) -> None:
        """After the first frame: plotext imported, and the chart drawn."""
        if not self._ready:
            self._ready = True
            self.plt  # noqa: B018 (imports plotext)
            self._redraw()
            self.refresh()  # (also with no run state yet: the empty chart)

    def render_line(self, y: int) -> Strip:
        if not self._ready:
            return Strip.blank(self.size.width, self.rich_style)
        key = (self._generation, self.size, self.app.theme, self.theme)
        if self._strips is None or self._strips[0] != key:
            if self._state is not None and self._plotted_size != self.size:
                self._draw(self._state)
                key = (self._generation, self.size, self.app.theme, self.theme)
            console = self.app.console
            lines = self.plot_lines()
            style = self.rich_style
            self._strips = (key, [Strip(line.render(console)).apply_style(style) for line in lines])
        strips = self._strips[1]
        return strips[y] if y < len(strips) else Strip.blank(self.size.width)

    def show(self, state: RunState) -> None:
        if len(state.history) == self._epochs_drawn:
            return
        self._epochs_drawn = len(state.history)
        self._state = state
        self._redraw()

    def set_view(self, **changes) -> None:
        """Change how the chart is drawn (``ChartView``'s fields) and redraw."""
        view = replace(self.view, **changes)
        if view != self.view:
            self.view = view
            self._redraw()

    def _redraw(self) -> None:
        if self._state is not None and self._ready:
            self._draw(self._state)
            self.refresh()

    def action_move_cursor(self, step: int) -> None:
        count = len(self._state.history) if self._state is not None else 0
        if not count:
            return
        if self.cursor is None:
            self.cursor = count - 1
        else:
            self.cursor = min(max(self.cursor + step, 0), count - 1)
        self._redraw()

    def action_cursor_to(self, index: int) -> None:
        if self._state is not None and self._state.history:
            self.cursor = index % len(self._state.history)
            self._redraw()

    def action_hide_cursor(self) -> None:
        if self.cursor is not None:
            self.cursor = None
            self._redraw()

    def on_click(self, event: events.Click) -> None:
        """The cursor goes to the epoch nearest the column clicked."""
        self.focus()
        if self._state is None or not self._xs:
            return
        left, right = self._plot_columns()
        if right <= left:
            return
        fraction = min(max((event.x - left) / (right - left), 0.0), 1.0)
        low, high = min(self._xs), max(self._xs)
        self.cursor = nearest_epoch(self._xs, low + fraction * (high - low))
        self._redraw()

    def _plot_columns(self) -> tuple[int, int]:
        """The first and last column of the plot area, read off the drawn frame
        (where plotext puts it depends on its y labels' width)."""
        lines = self.plot_lines()
        for line in lines[len(lines) // 2 :]:
            text = line.plain
            corners = [i for i, char in enumerate(text) if char in "└┘"]
            if len(corners) >= 2:
                return corners[0] + 1, corners[-1] - 1
        return 8, max(self.size.width - 2, 9)

    def _draw(self, state: RunState) -> None:
        self._generation += 1
        self._plotted_size = self.size
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        history = state.history
        view = self.view
        shown = metric_matcher(view.filter)
        if view.filter:
            series, more = _filtered_series(history, shown)
            keys = [key for _label, key, _color in series]
        else:
            keys = drawn_keys(history)
            series, more = _series(keys), 0
        xs, missing = x_positions(history, view.x_mode, state.started)
        x_mode = view.x_mode
        if xs is None:
            xs, x_mode = [float(record.number) for record in history], "epoch"
        self._xs = xs
        at = {record.number: x for record, x in zip(history, xs)}
        scale = Scale(view.log_y)
        diverged = [
            record.number
            for record in history
            if any(key in record.logs and not math.isfinite(record.logs[key]) for key in keys)
        ]
        names = ", ".join(keys) if keys else f"no metric matches /{view.filter}/"
        title = f"{names} per epoch" if x_mode == "epoch" else f"{names} by {x_mode}"
        if missing:
            title += f" (x: {view.x_mode}: {missing})"
        if diverged:
            title += (
                f" · NOT DRAWN: non-finite {names} in epoch {', '.join(map(str, diverged[:5]))}"
            )
        drawn: list[float] = []
        raw_label = RAW_LABEL if view.smoothing else None
        for label, key, color in series:
            points = [(at[r.number], r.logs.get(key, math.nan), r.segment) for r in history]
            drawn += plot_by_model(plt, points, label, color, scale, view.smoothing, raw_label)
            if drawn:
                raw_label = None
        evaluated = [
            (at[record.number], record.train_eval["loss"], record.segment)
            for record in history
            if record.train_eval and math.isfinite(record.train_eval.get("loss", math.nan))
        ]
        if evaluated and (not view.filter or shown("loss")):
            drawn += plot_by_model(
                plt, evaluated, TRAIN_EVAL_LABEL, "green", scale, view.smoothing, None
            )
        hidden = ""
        if keys and keys[0] == "loss" and drawn:
            shown_lines, hidden = constant_lines(plt, history, drawn, self.size.width, at, scale)
            drawn += shown_lines
        if more:
            title += f" · +{more} more match: narrow the filter"
        if view.smoothing:
            title += f" · EMA β={view.smoothing:g} ({RAW_LABEL} in {RAW_COLOR})"
        if view.log_y:
            title += " · log y"
            if scale.dropped:
                title += f" ({scale.dropped} values ≤ 0 not drawn)"
        if hidden:
            title += f" · {CONSTANT_LABEL} {hidden}: off the chart"
        plt.title(title)
        self.caption = title
        if len(state.segments) > 1 and drawn:
            mark_models(plt, state, min(drawn), max(drawn), self.size, at, scale)
        elif view.log_y and drawn:
            ticks = scale.ticks(min(drawn), max(drawn))
            plt.yticks(ticks, [scale.label(tick) for tick in ticks])
        elif drawn and max(abs(min(drawn)), abs(max(drawn))) >= LONG_LABELS:
            # plotext writes such values out in full (24 digits for a loss of 1e23).
            low, high = min(drawn), max(drawn)
            ticks = [low + (high - low) * part / 4 for part in range(5)] if high > low else [low]
            plt.yticks(ticks, [f"{tick:.3g}" for tick in ticks])
        if history:
            positions, labels = x_ticks(xs, x_mode)
            if x_mode == "epoch":
                plt.xticks(epoch_ticks([record.number for record in history]))
            else:
                plt.xticks(positions, labels)
        self._draw_cursor(history, xs, x_mode, shown)

    def on_focus(self) -> None:
        self._hint = True  # below the chart while focused without a cursor
        self._redraw()

    def on_blur(self) -> None:
        self._hint = False
        self._redraw()

    def _draw_cursor(self, history, xs: list[float], x_mode: str, shown) -> None:
        if self.cursor is None or not history:
            self.cursor_text = ""
            if history and self._hint:
                self.plt.xlabel(CURSOR_HINT)
            return
        self.cursor = min(self.cursor, len(history) - 1)
        record, x = history[self.cursor], xs[self.cursor]
        self.cursor_text = cursor_reading(record, x_mode, x if x_mode != "epoch" else None, shown)
        self.plt.vline(x, CURSOR_COLOR)
        width = max(self.size.width - 4, 10)
        text = self.cursor_text
        self.plt.xlabel(text if len(text) <= width else text[: width - 1] + "…")


def _filtered_series(history, shown: Callable[[str], bool]) -> tuple[list, int]:
    """(label, log key, colour) of every logged key the filter keeps, the training
    values first, and how many more matched than there are colours for."""
    keys: dict[str, None] = {}
    for record in history:
        keys.update((key, None) for key in record.logs if shown(key))
    train = [key for key in keys if not key.startswith("val_")]
    val = [key for key in keys if key.startswith("val_")]
    labels = {"loss": "History loss"}
    series = [(labels.get(key, key), key, color) for key, color in zip(train, _TRAIN_COLORS)]
    paired = {key: index for index, key in enumerate(train[: len(_TRAIN_COLORS)])}
    free = [i for i in range(len(_VAL_COLORS)) if i >= len(paired)]
    for key in val:
        index = paired.get(key[4:])
        if index is None:
            if not free:
                continue
            index = free.pop(0)
        series.append((key, key, _VAL_COLORS[index]))
    return series, len(keys) - len(series)


def drawn_keys(history) -> list[str]:
    """``loss``; for epochs of a model that logs none (a GAN's ``d_loss`` and
    ``g_loss``), its own training values instead, in the order they came."""
    keys: dict[str, None] = {}
    for record in history:
        if "loss" in record.logs:
            keys["loss"] = None
        else:
            keys.update((key, None) for key in record.logs if not key.startswith("val_"))
    return list(keys)[:METRIC_SERIES] or ["loss"]


def _series(keys: list[str]) -> list[tuple[str, str, str]]:
    """(label, log key, colour) of each curve: the training values, then validation's."""
    labels = {"loss": "History loss"}
    return [(labels.get(key, key), key, color) for key, color in zip(keys, _TRAIN_COLORS)] + [
        (f"val_{key}", f"val_{key}", color) for key, color in zip(keys, _VAL_COLORS)
    ]
