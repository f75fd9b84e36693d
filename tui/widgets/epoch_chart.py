"""Epoch curves drawn with plotext: History's loss, val_loss and, when the run asked
for it, the loss evaluate() gives on the training data; a model that logs no loss
gets its own values instead. Each model of the run has its own stretch of the
curves, marked with its name."""

from __future__ import annotations

import math

from textual.geometry import Size
from textual.strip import Strip
from textual_plotext import PlotextPlot

from kmon.engine.format import format_value
from kmon.engine.view.state import METRIC_SERIES, RunState

TRAIN_EVAL_LABEL = "evaluate() on train"
#: Colours of the training values (History's loss cyan) and of validation's.
_TRAIN_COLORS = ("cyan", "magenta", "blue", "red", "white", "gray+")
_VAL_COLORS = ("orange", "magenta+", "blue+", "red+", "gray", "orange+")
#: Drawn where a line has one point (a one-epoch fit), which braille shows as a dot.
LONE_MARKER = "●"
MODEL_LINE_COLOR = "gray"
#: The constant predictor's loss: a dashed line in the legend under this name.
CONSTANT_LABEL = "constant predictor"
CONSTANT_COLOR = "gray+"


class EpochChart(PlotextPlot):
    """Redraws only when a new epoch ended.

    Plotext builds the whole chart in Python, and turning its output into strips
    costs as much again (several ms at 120x40, holding the GIL the training thread
    needs). Textual asks for every line again after any layout pass, so the strips
    are kept until the data, the size or the theme changes.
    """

    DEFAULT_CSS = """
    EpochChart {
        height: 1fr;
        min-height: 6;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._epochs_drawn = -1
        self._strips: tuple[tuple, list[Strip]] | None = None
        self._state: RunState | None = None
        self._plotted_size: Size | None = None
        """The size the model names were placed for."""

    def render_line(self, y: int) -> Strip:
        key = (self._epochs_drawn, self.size, self.app.theme, self.theme)
        if self._strips is None or self._strips[0] != key:
            if self._state is not None and self._plotted_size != self.size:
                self._draw(self._state)
            console = self.app.console
            lines = self.render().split("\n", allow_blank=True)
            style = self.rich_style
            self._strips = (key, [Strip(line.render(console)).apply_style(style) for line in lines])
        strips = self._strips[1]
        return strips[y] if y < len(strips) else Strip.blank(self.size.width)

    def show(self, state: RunState) -> None:
        if len(state.history) == self._epochs_drawn:
            return
        self._epochs_drawn = len(state.history)
        self._state = state
        self._draw(state)
        self.refresh()

    def _draw(self, state: RunState) -> None:
        self._plotted_size = self.size
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        history = state.history
        keys = drawn_keys(history)
        diverged = [
            record.number
            for record in history
            if any(key in record.logs and not math.isfinite(record.logs[key]) for key in keys)
        ]
        names = ", ".join(keys)
        title = f"{names} per epoch"
        if diverged:
            title += (
                f" · NOT DRAWN: non-finite {names} in epoch {', '.join(map(str, diverged[:5]))}"
            )
        plt.title(title)
        drawn: list[float] = []
        for label, key, color in _series(keys):
            points = [(r.number, r.logs.get(key, math.nan), r.segment) for r in history]
            drawn += _plot_by_model(plt, points, label, color)
        evaluated = [
            (record.number, record.train_eval["loss"], record.segment)
            for record in history
            if record.train_eval and math.isfinite(record.train_eval.get("loss", math.nan))
        ]
        if evaluated:
            drawn += _plot_by_model(plt, evaluated, TRAIN_EVAL_LABEL, "green")
        if keys[0] == "loss" and drawn:
            shown, hidden = _constant_lines(plt, history, drawn, self.size.width)
            drawn += shown
            if hidden:
                plt.title(f"{title} · {CONSTANT_LABEL} {hidden}: off the chart")
        if len(state.segments) > 1 and drawn:
            _mark_models(plt, state, min(drawn), max(drawn), self.size)
        if history:
            plt.xticks(epoch_ticks([record.number for record in history]))


def _constant_lines(plt, history, drawn: list[float], width: int) -> tuple[list[float], str]:
    """The constant predictor's loss (each fit's ``baselines`` total) as a dashed
    line over that fit's epochs: plotext draws no dashed lines, so a dash every other
    column. A baseline far outside the curves (more than their own range away) would
    squash them flat: it is named in the title instead. Returns the values drawn and
    the names of those left off."""
    runs: list[list] = []
    for record in history:
        value = record.baselines.get("loss")
        if value is None or not math.isfinite(value):
            continue
        last = runs[-1] if runs else None
        if last and last[2] == value and last[3] == record.fit and last[1] == record.number - 1:
            last[1] = record.number
        else:
            runs.append([record.number, record.number, value, record.fit])
    if not runs:
        return [], ""
    low, high = min(drawn), max(drawn)
    extent = high - low or abs(high) or 1.0
    first, last = history[0].number, history[-1].number
    # About how many columns one epoch gets (the y axis' labels take ~8).
    per_epoch = max(width - 8, 10) / max(last - first, 1)
    shown, hidden, label = [], [], CONSTANT_LABEL
    for start, end, value, _fit in runs:
        if not low - extent <= value <= high + extent:
            hidden.append(format_value(value))
            continue
        left, right = (start, end) if end > start else (start - 0.3, start + 0.3)
        dashes = max(int((right - left) * per_epoch / 2), 1)
        xs = [left + (right - left) * i / dashes for i in range(dashes + 1)]
        plt.scatter(xs, [value] * len(xs), marker="─", color=CONSTANT_COLOR, label=label)
        label = None  # once in the legend
        shown.append(value)
    return shown, ", ".join(dict.fromkeys(hidden))


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


def _plot_by_model(
    plt, points: list[tuple[int, float, int]], label: str, color: str
) -> list[float]:
    """One line per model segment, so that different models' values are never
    joined into one curve; a lone point gets a visible marker (a braille line of
    one point is a single dot). Returns the values drawn."""
    runs: dict[int, list[tuple[int, float]]] = {}
    for number, value, segment in points:
        if math.isfinite(value):
            runs.setdefault(segment, []).append((number, value))
    drawn = []
    for run in runs.values():
        marker = "braille" if len(run) > 1 else LONE_MARKER
        plt.plot(*zip(*run), label=label, color=color, marker=marker)
        label = None  # once in the legend
        drawn += [value for _, value in run]
    return drawn


def _mark_models(plt, state: RunState, lowest: float, highest: float, size: Size) -> None:
    """A vertical line where another model starts, and each model's name along the
    bottom of its stretch (cut to fit it), in a margin kept free below the lowest
    value: the legend takes the top."""
    extent = highest - lowest or abs(lowest) or 1.0
    # A row of its own for the names (the frame, title and x axis take 4 rows).
    rows = max(size.height - 4, 2)
    bottom = lowest - extent * max(0.12, 1.5 / (rows - 1))
    plt.ylim(bottom, highest)
    # Ticks over the values only: the margin's own would read as a value (a
    # negative loss).
    ticks = [lowest + extent * i / 4 for i in range(5)] if highest > lowest else [lowest]
    plt.yticks(ticks, [format_value(tick) for tick in ticks])
    epochs: dict[int, int] = {}
    for record in state.history:
        epochs[record.segment] = epochs.get(record.segment, 0) + 1
    # About how many columns one epoch gets (the y axis' labels take ~8).
    columns = max(size.width - 8, 10) / max(len(state.history), 1)
    for segment in state.segments:
        if segment.number not in epochs:
            continue  # no epoch finished: nothing of it on the chart yet
        left = segment.first_epoch - 0.5
        if segment.number:
            plt.vline(left, MODEL_LINE_COLOR)
        else:
            left = segment.first_epoch
        room = int(epochs[segment.number] * columns) - 1
        name = segment.model or f"model {segment.number + 1}"
        if len(name) > room:
            name = name[: max(room - 1, 0)] + "…" if room > 1 else ""
        if name:
            plt.text(name, left, bottom, color=MODEL_LINE_COLOR, alignment="left")


def epoch_ticks(numbers: list[int]) -> list[int]:
    """Whole epoch numbers for the x axis, at most about ten (plotext's own ticks
    fall between epochs: 1.0, 2.2, 3.5...)."""
    if len(numbers) <= 10:
        return numbers
    step = math.ceil(len(numbers) / 10)
    return numbers[::step]
