"""The Loss tab of runs that train several models, of a model that logs no loss
(a GAN), and of a one-epoch run; and the Alarms tab once a model's alarm ended.
Driven through Textual's Pilot on hand-built events."""

from __future__ import annotations

import io

from model_events import GAN_REASON, fit, gan_fit, models_run, three_models
from rich.console import Console
from textual.widgets import Label, Sparkline, Static
from tui_helpers import replayed, wait_until

from kmon.engine.events import Alarm
from kmon.tui.app import MonitorApp
from kmon.tui.widgets.alarm_pane import NO_ALARMS, AlarmPane
from kmon.tui.widgets.epoch_chart import LONE_MARKER, EpochChart
from kmon.tui.widgets.explanation import Explanation
from kmon.tui.widgets.run_header import RunHeader
from kmon.tui.widgets.series_panel import MetricPanels, SeriesPanel

SIZE = (100, 34)


def curves(app: MonitorApp) -> list[tuple[str | None, list, list, set[str]]]:
    """Every line plotext draws on the epoch chart: (label, epochs, values, markers)."""
    monitor = app.query_one(EpochChart).plt._active.monitor
    return [
        (label, list(xs), list(ys), set(markers))
        for label, xs, ys, markers in zip(
            monitor.label, monitor.x, monitor.y, monitor.marker, strict=True
        )
    ]


def model_lines(app: MonitorApp) -> list[float]:
    """Where the chart's vertical lines (one per model change) stand."""
    return list(app.query_one(EpochChart).plt._active.monitor.vcoord[0])


def chart_text(app: MonitorApp) -> str:
    return str(app.query_one(EpochChart).render())


def stats(panel: SeriesPanel) -> str:
    return str(panel.query_one(".series-stats", Label).content)


async def test_each_model_has_its_own_stretch_of_the_epoch_chart_with_its_name():
    async with replayed(three_models(), SIZE) as (app, pilot):
        lines = curves(app)
        # History's loss: one line per model, never joined across models; the
        # forecaster's three fits (one epoch each) are one model, one line.
        assert [(label, xs) for label, xs, _, _ in lines] == [
            ("History loss", [1, 2]),
            (None, [3, 4]),
            (None, [5, 6, 7]),
        ]
        assert model_lines(app) == [2.5, 4.5]
        chart = chart_text(app)
        for name in ("digits", "router", "forecaster"):
            assert name in chart
        assert "NOT DRAWN" not in chart
        # The batch panels: the current model's batches, under its name.
        for panel_id in ("#batch-values", "#batch-loss"):
            panel = app.query_one(panel_id, SeriesPanel)
            assert stats(panel).startswith("model 3 (forecaster) · ")
            assert stats(panel).endswith("12 batches")
            assert max(panel.query_one(Sparkline).data) <= 0.5
        explanation = str(app.query_one(Explanation).content)
        assert explanation.startswith("[b]Epoch 7 (forecaster):[/b] ")


async def test_a_new_model_before_its_first_batch_has_no_data_yet():
    events = three_models()
    start = next(i for i, e in enumerate(events) if getattr(e, "model", None) == "forecaster")
    events = events[: start + 2]  # its fit_start and value_kinds

    async with replayed(events, SIZE, until=lambda app: len(app.state.fits) == 3) as (app, pilot):
        for panel_id in ("#batch-values", "#batch-loss"):
            panel = app.query_one(panel_id, SeriesPanel)
            assert stats(panel) == "model 3 (forecaster) · no data yet"
        explanation = str(app.query_one(Explanation).content)
        assert explanation.startswith("[b]Model 3 (forecaster):[/b] Fit 2 trains another model")


async def test_one_model_keeps_one_line_and_no_model_marks():
    stream = models_run()
    fit(stream, "only", model_index=0)
    fit(stream, "only", model_index=0)
    stream.run_end()

    async with replayed(stream, SIZE) as (app, pilot):
        assert [(label, xs) for label, xs, _, _ in curves(app)] == [("History loss", [1, 2, 3, 4])]
        assert model_lines(app) == []
        assert "only" not in chart_text(app)
        assert not stats(app.query_one("#batch-values", SeriesPanel)).startswith("model")


async def test_a_one_epoch_run_draws_markers_not_dots():
    stream = models_run()
    fit(stream, "tiny", model_index=0, epochs=1)
    stream.run_end()

    async with replayed(stream, SIZE) as (app, pilot):
        [(label, xs, _, markers)] = curves(app)
        assert (label, xs, markers) == ("History loss", [1], {LONE_MARKER})
        # The point itself and the legend's sample.
        assert chart_text(app).count(LONE_MARKER) == 3


async def test_a_model_without_loss_shows_its_own_metrics_and_why():
    stream = models_run()
    gan_fit(stream)
    stream.run_end()

    async with replayed(stream, SIZE) as (app, pilot):
        assert not app.query_one("#batch-values").display
        assert not app.query_one("#batch-loss").display
        metrics = app.query_one(MetricPanels)
        assert metrics.display
        await wait_until(pilot, lambda: len(metrics.query(SeriesPanel)) == 2)
        note = str(metrics.query_one(".metrics-note").content)
        assert "logs no loss" in note and GAN_REASON in note
        assert "d_loss, g_loss" in note
        panels = list(metrics.query(SeriesPanel))
        assert [panel.border_title for panel in panels] == [
            "d_loss: running mean over the epoch (what Keras's progress bar shows)",
            "g_loss: running mean over the epoch (what Keras's progress bar shows)",
        ]
        for panel in panels:
            await wait_until(pilot, lambda panel=panel: len(panel.query_one(Sparkline).data) == 8)
            assert stats(panel).endswith("8 batches")
        # The epoch chart: each metric under its own name; nothing claimed non-finite.
        assert [label for label, *_ in curves(app)] == ["d_loss", "g_loss"]
        chart = chart_text(app)
        assert "d_loss, g_loss per epoch" in chart
        assert "NOT DRAWN" not in chart and "non-finite" not in chart
        explanation = str(app.query_one(Explanation).content)
        assert "This model logs no loss" in explanation and GAN_REASON in explanation


async def test_the_loss_panels_come_back_for_the_next_model_that_logs_a_loss():
    stream = models_run()
    gan_fit(stream)
    fit(stream, "classifier", model_index=1)
    stream.run_end()

    async with replayed(stream, SIZE) as (app, pilot):
        assert app.query_one("#batch-values").display
        assert not app.query_one(MetricPanels).display
        assert stats(app.query_one("#batch-values", SeriesPanel)).startswith(
            "model 2 (classifier) · "
        )


async def test_an_alarm_of_an_earlier_model_shows_as_ended_not_active():
    stream = models_run()
    fit(stream, "digits", model_index=0)
    raised = {"kind": "unscaled_data", "fit": 0}
    stream.add(Alarm, **raised, message="input x: mean 135")
    stream.add(Alarm, **raised, state="ended", message="fit 1 trains another model (router)")
    fit(stream, "router", model_index=1)
    stream.run_end()

    async with replayed(stream, SIZE) as (app, pilot):
        assert "alarm" not in str(app.query_one(RunHeader).text)
        await pilot.press("a")  # the pane is drawn while shown
        console = Console(width=120, file=io.StringIO(), color_system=None)
        console.print(app.query_one(AlarmPane).query_one("#alarm-body", Static).content)
        body = console.file.getvalue()
        assert NO_ALARMS in body
        assert "ended   unscaled_data (with fit 0) fit 1 trains another model (router)" in body
