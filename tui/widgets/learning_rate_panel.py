"""The learning rate under the epoch chart: its value at each epoch's end as a
one-line step chart on a log scale, so ReduceLROnPlateau's cuts show as steps.
Hidden until a rate is known (older logs have none)."""

from __future__ import annotations

import math

from kmon.engine.view.state import RunState
from kmon.engine.view.system_text import format_rate

from .series_panel import SeriesPanel

CAPTION = "learning rate at each epoch's end · LOG SCALE"


class LearningRatePanel(SeriesPanel):
    """One bar column per epoch (Textual's sparkline spreads the points over the
    width, so a constant stretch is a flat step); redrawn when an epoch ends."""

    DEFAULT_CSS = """
    LearningRatePanel {
        display: none;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(CAPTION, id=id)
        self._epochs = -1

    def show_rates(self, state: RunState) -> None:
        rates = state.learning_rates.by_epoch
        if len(rates) == self._epochs:
            return
        self._epochs = len(rates)
        self.display = bool(rates)
        if not rates:
            return
        values = [rate for _number, _segment, rate in rates]
        logs = [math.log10(rate) if rate > 0 else math.nan for rate in values]
        self.show(logs, describe_rates(values))


def describe_rates(values: list[float]) -> str:
    """``now 0.0001 · from 0.001 · 2 changes · 12 epochs``."""
    changes = sum(1 for before, after in zip(values, values[1:]) if after != before)
    parts = [f"now {format_rate(values[-1])}"]
    if changes:
        parts.append(f"from {format_rate(values[0])}")
        parts.append(f"{changes} change{'s' if changes > 1 else ''}")
    parts.append(f"{len(values)} epoch{'s' if len(values) > 1 else ''}")
    return " · ".join(parts)
