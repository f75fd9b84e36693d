"""The Loss tab's batch panels, drawn from the run state: each batch's loss (raw or
smoothed), Keras's running mean, or a model's own metrics where it logs no loss."""

from __future__ import annotations

import math
from typing import Protocol

from textual.widget import Widget

from kmon.engine.series import BucketSeries
from kmon.engine.view.state import EMA_BETA, RunState

from .widgets.series_panel import MetricPanels, SeriesPanel, describe_series, model_label

#: A series spanning this factor or more gets a hint to use the log scale.
LOG_HINT_SPAN = 1000.0
LOG_CAPTION = " · LOG SCALE (g: linear)"

VALUES_CAPTION = "loss of each batch (recovered from Keras's running means)"
SMOOTHED_CAPTION = f"loss of each batch · SMOOTHED: EMA β={EMA_BETA}, bias-corrected (s: raw)"
RUNNING_CAPTION = "running mean over the epoch (what Keras's progress bar shows)"


class Widgets(Protocol):
    """Where the panels are found: the monitor app's remembered ``query_one``."""

    def _one(self, selector, expect_type=None) -> Widget: ...


def show_batch_values(app: Widgets, state: RunState, *, smoothing: bool, log_scale: bool) -> None:
    """Each batch's loss, as kmon recovered it (or its EMA), in ``#batch-values``."""
    series = state.batch_ema if smoothing else state.batch_values
    caption = SMOOTHED_CAPTION if smoothing else VALUES_CAPTION
    stats = None
    spe = _steps_per_execution(state)
    if spe > 1:
        # Keras reports once an execution: a value is the mean over its batches.
        caption = caption.replace("each batch", f"each execution of {spe} steps")
    # This model's batches (a new model's series start empty).
    if not len(series) and len(state.batch_loss):
        stats = model_label(state) + (
            "not recoverable for this input (see the event log's value_kinds)"
        )
    elif state.unrecovered_batches:
        missing = state.unrecovered_batches
        stats = model_label(state) + (
            f"{describe_series(series, unit='batches')} · {missing} not recoverable"
        )
    unit = "executions" if spe > 1 else "batches"
    _show_series(app, state, "#batch-values", series, caption, stats, log_scale=log_scale, unit=unit)


def show_running_means(app: Widgets, state: RunState, *, log_scale: bool) -> None:
    """Keras's running mean over the epoch, in ``#batch-loss``."""
    unit = "executions" if _steps_per_execution(state) > 1 else "batches"
    _show_series(
        app, state, "#batch-loss", state.batch_loss, RUNNING_CAPTION, log_scale=log_scale, unit=unit
    )


def show_metrics(app: Widgets, state: RunState, *, log_scale: bool) -> None:
    """A model that logs no loss: its own metrics instead of the loss panels."""
    instead = bool(state.metric_series) and not len(state.batch_loss)
    panels = app._one(MetricPanels)
    if panels.display != instead:  # each change is a layout pass
        panels.display = instead
        for panel_id in ("#batch-values", "#batch-loss"):
            app._one(panel_id).display = not instead
    if instead:
        panels.show(state, log_scale=log_scale)


def _steps_per_execution(state: RunState) -> int:
    """Steps a reported value covers: Keras reports once an execution."""
    fit = state.current_fit
    return fit.steps_per_execution if fit is not None else 1


def _show_series(
    app: Widgets,
    state: RunState,
    panel_id: str,
    series: BucketSeries,
    caption: str,
    stats: str | None = None,
    *,
    log_scale: bool,
    unit: str = "batches",
) -> None:
    panel = app._one(panel_id, SeriesPanel)
    values = series.highs()
    if log_scale:
        caption += LOG_CAPTION
        values = [math.log10(v) if v > 0 else math.nan for v in values]
    if panel.border_title != caption:  # setting it repaints the panel
        panel.border_title = caption
    if stats is None:
        stats = model_label(state) + describe_series(series, unit=unit)
        low, high = series.low, series.high
        if not log_scale and series.buckets and 0 < low and high / low >= LOG_HINT_SPAN:
            stats += " · g: log scale"
    panel.show(values, stats)
