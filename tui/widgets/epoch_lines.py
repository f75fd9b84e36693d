"""How the epoch chart draws its lines with plotext: each model's stretch of a
curve apart, smoothed over the values as logged, the constant predictor's dashed
line, the marks where another model starts, and a linear or log y scale."""

from __future__ import annotations

import math

from textual.geometry import Size

from kmon.engine.format import format_value
from kmon.engine.series import debiased_ema
from kmon.engine.view.state import RunState

#: Drawn where a line has one point (a one-epoch fit), which braille shows as a dot.
LONE_MARKER = "●"
MODEL_LINE_COLOR = "gray"
#: The constant predictor's loss: a dashed line in the legend under this name.
CONSTANT_LABEL = "constant predictor"
CONSTANT_COLOR = "gray+"
#: The values as logged, under their smoothed curves.
RAW_COLOR = "gray"
RAW_LABEL = "as logged"


class Scale:
    """The y axis' scale: values as they are, or their log10 for a log axis (values
    ≤ 0 have no place on it: counted, not drawn)."""

    def __init__(self, log: bool) -> None:
        self.log = log
        self.dropped = 0

    def __call__(self, value: float, *, count: bool = True) -> float:
        if not self.log:
            return value
        if value > 0:
            return math.log10(value)
        if count and math.isfinite(value):
            self.dropped += 1
        return math.nan

    def label(self, tick: float) -> str:
        return format_value(10**tick if self.log else tick)

    def ticks(self, low: float, high: float) -> list[float]:
        """Whole powers of ten where the values span two or more, else five."""
        if self.log and math.floor(high) - math.ceil(low) >= 1:
            return [float(p) for p in range(math.ceil(low), math.floor(high) + 1)]
        return [low + (high - low) * i / 4 for i in range(5)] if high > low else [low]


def constant_lines(
    plt, history, drawn: list[float], width: int, at: dict[int, float], scale: Scale
) -> tuple[list[float], str]:
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
    first, last = at[history[0].number], at[history[-1].number]
    span = last - first
    # About how many columns one unit of x gets (the y axis' labels take ~8).
    per_unit = max(width - 8, 10) / (span if span > 1 else 1)
    spacing = span / (len(history) - 1) if len(history) > 1 and span > 0 else 1.0
    shown, hidden, label = [], [], CONSTANT_LABEL
    for start, end, value, _fit in runs:
        y = scale(value, count=False)
        if not low - extent <= y <= high + extent:
            hidden.append(format_value(value))
            continue
        left, right = (
            (at[start], at[end])
            if end > start
            else (at[start] - 0.3 * spacing, at[start] + 0.3 * spacing)
        )
        dashes = max(int((right - left) * per_unit / 2), 1)
        xs = [left + (right - left) * i / dashes for i in range(dashes + 1)]
        plt.scatter(xs, [y] * len(xs), marker="─", color=CONSTANT_COLOR, label=label)
        label = None  # once in the legend
        shown.append(y)
    return shown, ", ".join(dict.fromkeys(hidden))


def plot_by_model(
    plt,
    points: list[tuple[float, float, int]],
    label: str | None,
    color: str,
    scale: Scale,
    smoothing: float = 0.0,
    raw_label: str | None = None,
) -> list[float]:
    """One line per model segment, so that different models' values are never
    joined into one curve; a lone point gets a visible marker (a braille line of
    one point is a single dot). Smoothed, each segment's EMA starts afresh and the
    values as logged are drawn under it in gray. Returns the values drawn (on the
    chart's y scale)."""
    runs: dict[int, list[tuple[float, float]]] = {}
    for x, value, segment in points:
        if math.isfinite(value):
            runs.setdefault(segment, []).append((x, value))
    drawn = []
    for run in runs.values():
        marker = "braille" if len(run) > 1 else LONE_MARKER
        xs = [x for x, _ in run]
        values = [value for _, value in run]
        lines = [(values, label, color)]
        if smoothing:
            lines = [
                (values, raw_label, RAW_COLOR),
                (debiased_ema(values, smoothing), label, color),
            ]
            raw_label = None
        for count, (line, name, line_color) in enumerate(lines):
            ys = [scale(value, count=count == 0) for value in line]
            kept = [(x, y) for x, y in zip(xs, ys) if math.isfinite(y)]
            if kept:
                plt.plot(*zip(*kept), label=name, color=line_color, marker=marker)
                drawn += [y for _, y in kept]
        label = None  # once in the legend
    return drawn


def mark_models(
    plt,
    state: RunState,
    lowest: float,
    highest: float,
    size: Size,
    at: dict[int, float],
    scale: Scale,
) -> None:
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
    ticks = scale.ticks(lowest, highest)
    plt.yticks(ticks, [scale.label(tick) for tick in ticks])
    epochs: dict[int, int] = {}
    for record in state.history:
        epochs[record.segment] = epochs.get(record.segment, 0) + 1
    # About how many columns one epoch gets (the y axis' labels take ~8).
    columns = max(size.width - 8, 10) / max(len(state.history), 1)
    for segment in state.segments:
        if segment.number not in epochs:
            continue  # no epoch finished: nothing of it on the chart yet
        first = at[segment.first_epoch]
        before = at.get(segment.first_epoch - 1)
        left = (before + first) / 2 if before is not None else first - 0.5
        if segment.number:
            plt.vline(left, MODEL_LINE_COLOR)
        else:
            left = first
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
