"""Epoch curves drawn with plotext: History's loss, val_loss and, when the run asked
for it, the loss evaluate() gives on the training data."""

from __future__ import annotations

import math

from textual.strip import Strip
from textual_plotext import PlotextPlot

from kmon.engine.state import RunState

SERIES = (
    ("History loss", "loss", "cyan"),
    ("val_loss", "val_loss", "orange"),
)
TRAIN_EVAL_LABEL = "evaluate() on train"


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

    def render_line(self, y: int) -> Strip:
        key = (self._epochs_drawn, self.size, self.app.theme, self.theme)
        if self._strips is None or self._strips[0] != key:
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
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        numbers = [record.number for record in state.history]
        diverged = [n for n, v in zip(numbers, state.epoch_series("loss")) if not math.isfinite(v)]
        title = "loss per epoch"
        if diverged:
            title += f" · NOT DRAWN: non-finite loss in epoch {', '.join(map(str, diverged[:5]))}"
        plt.title(title)
        for label, key, color in SERIES:
            points = [
                (n, value)
                for n, value in zip(numbers, state.epoch_series(key))
                if math.isfinite(value)
            ]
            if points:
                plt.plot(*zip(*points), label=label, color=color, marker="braille")
        evaluated = [
            (record.number, record.train_eval["loss"])
            for record in state.history
            if record.train_eval and math.isfinite(record.train_eval.get("loss", math.nan))
        ]
        if evaluated:
            plt.plot(*zip(*evaluated), label=TRAIN_EVAL_LABEL, color="green", marker="braille")
        if numbers:
            plt.xticks(epoch_ticks(numbers))
        self.refresh()


def epoch_ticks(numbers: list[int]) -> list[int]:
    """Whole epoch numbers for the x axis, at most about ten (plotext's own ticks
    fall between epochs: 1.0, 2.2, 3.5...)."""
    if len(numbers) <= 10:
        return numbers
    step = math.ceil(len(numbers) / 10)
    return numbers[::step]
