"""The epoch chart's controls, driven through Pilot: smoothing strength (``[`` ``]``),
the x axis (``t``), the log y scale (``g``), the cursor (← → and a click), and the
SVG screenshot key (``p``). What the chart plots is read off plotext's calls: the
lines must be the events' own values (or their EMA), at the events' own steps and
times."""

from __future__ import annotations

import math

from event_stream import EventStream, load_events
from textual.widgets import TabbedContent
from tui_helpers import replayed, wait_until

from kmon.engine.log.sources import RecordedSource
from kmon.engine.series import SmoothedSeries, debiased_ema
from kmon.engine.view.epoch_axes import SMOOTHING_STEPS
from kmon.tui.app import MonitorApp
from kmon.tui.widgets.epoch_chart import CURSOR_HINT, EpochChart

SIZE = (100, 34)
LOSSES = [2.0, 1.2, 0.9, 0.75, 0.7, 0.5]
STEPS = [3, 5, 4, 4, 2, 6]
START = 1000.0


def timed_run(*, tick: float = 0.25, run_start: bool = True) -> EventStream:
    """Six epochs of a loss that falls, with validation, epochs of different
    lengths (so that steps are not epochs times a constant), every event ``tick``
    seconds after the one before."""
    stream = EventStream(START, tick=tick)
    if run_start:
        stream.run_start()
    stream.fit_start(epochs=len(LOSSES), steps=None)
    for loss, steps in zip(LOSSES, STEPS):
        stream.epoch_start().batches([loss] * steps, size=8)
        stream.val_end({"loss": loss * 1.2, "accuracy": 1 - loss / 3})
        stream.epoch_end({"loss": loss, "accuracy": 1 - loss / 2, "val_loss": loss * 1.2})
    return stream.fit_end().run_end()


class PlotCalls:
    """Records what the chart hands plotext's ``plot``: (label, colour, xs, ys)."""

    def __init__(self, chart: EpochChart) -> None:
        self.lines: list[tuple[str | None, str, list[float], list[float]]] = []
        plot = chart.plt.plot

        def recording(*args, label=None, color=None, **kwargs):
            self.lines.append((label, color, list(args[0]), list(args[1])))
            return plot(*args, label=label, color=color, **kwargs)

        chart.plt.plot = recording

    def take(self) -> list[tuple[str | None, str, list[float], list[float]]]:
        lines, self.lines = self.lines, []
        return lines

    def labelled(self, label: str) -> tuple[list[float], list[float]]:
        [(xs, ys)] = [(xs, ys) for name, _c, xs, ys in self.lines if name == label]
        return xs, ys


def epoch_ends(stream: EventStream) -> list:
    return [event for event in stream.events if event.type == "epoch_end"]


def test_debiased_ema_is_the_smoothed_series_kmon_keeps():
    values = [2.0, 1.0, math.nan, 0.5, 0.8, 0.1]
    for beta in SMOOTHING_STEPS:
        series = SmoothedSeries(beta)
        for value in values:
            series.add(value)
        expected = [bucket.last for bucket in series.buckets]
        got = [value for value in debiased_ema(values, beta) if math.isfinite(value)]
        assert got == expected
    assert debiased_ema(values, 0.0)[:2] == [2.0, 1.0]


async def test_brackets_step_the_smoothing_and_the_caption_says_it():
    stream = timed_run()
    async with replayed(stream.events, SIZE) as (app, pilot):
        chart = app.query_one(EpochChart)
        calls = PlotCalls(chart)
        assert chart.caption == "loss per epoch"
        seen = []
        for _ in range(len(SMOOTHING_STEPS) + 1):  # one more than there are: it stops
            await pilot.press("right_square_bracket")
            seen.append(chart.view.smoothing)
        assert seen == [*SMOOTHING_STEPS[1:], 0.99, 0.99]
        assert "EMA β=0.99 (as logged in gray)" in chart.caption
        await pilot.press(*["left_square_bracket"] * 6)
        assert chart.view.smoothing == 0.5 and "EMA β=0.5 " in chart.caption
        calls.take()
        await pilot.press("right_square_bracket")  # 0.6
        await pilot.pause()
        # The drawn smoothed line is the EMA of History's values; the values as
        # logged are drawn under it, unchanged.
        _xs, smoothed = calls.labelled("History loss")
        assert smoothed == debiased_ema(LOSSES, 0.6)
        _xs, raw = calls.labelled("as logged")
        assert raw == LOSSES
        await pilot.press(*["left_square_bracket"] * 3)
        assert chart.view.smoothing == 0 and "EMA" not in chart.caption
        # The per-batch panel keeps showing the values as logged.
        assert app.smoothing is False


async def test_x_cycles_epoch_step_wall_time_time_since_start():
    stream = timed_run()
    ends = epoch_ends(stream)
    started = stream.events[0].t  # the run_start's
    async with replayed(stream.events, SIZE) as (app, pilot):
        chart = app.query_one(EpochChart)
        calls = PlotCalls(chart)
        expected = {
            "step": ("loss by step", [float(sum(STEPS[: i + 1])) for i in range(len(STEPS))]),
            "wall time": ("loss by wall time", [end.t for end in ends]),
            "time since start": ("loss by time since start", [end.t - started for end in ends]),
            "epoch": ("loss per epoch", [float(i + 1) for i in range(len(LOSSES))]),
        }
        for mode, (caption, xs) in expected.items():
            calls.take()
            await pilot.press("t")
            await pilot.pause()
            assert chart.view.x_mode == mode
            assert chart.caption == caption
            got_xs, ys = calls.labelled("History loss")
            assert got_xs == xs and ys == LOSSES


async def test_an_axis_the_log_lacks_is_refused_in_the_caption():
    # Every event at one time (what an import of a CSVLogger file writes), and no
    # run_start: no timings, and no start to count from.
    stream = timed_run(tick=0.0, run_start=False)
    async with replayed(stream.events, SIZE) as (app, pilot):
        chart = app.query_one(EpochChart)
        calls = PlotCalls(chart)
        await pilot.press("t")  # step: the batches are there
        assert chart.caption == "loss by step"
        calls.take()
        await pilot.press("t")
        await pilot.pause()
        assert chart.caption == "loss per epoch (x: wall time: no epoch timings in this log)"
        xs, _ys = calls.labelled("History loss")
        assert xs == [float(i + 1) for i in range(len(LOSSES))]
    stream = timed_run(run_start=False)
    async with replayed(stream.events, SIZE) as (app, pilot):
        chart = app.query_one(EpochChart)
        await pilot.press("t", "t", "t")
        assert chart.caption == "loss per epoch (x: time since start: no run start in this log)"


async def test_g_draws_the_chart_on_a_log_scale_too():
    stream = timed_run()
    async with replayed(stream.events, SIZE) as (app, pilot):
        chart = app.query_one(EpochChart)
        calls = PlotCalls(chart)
        await pilot.press("g")
        await pilot.pause()
        assert app.log_scale and chart.view.log_y
        assert chart.caption == "loss per epoch · log y"
        _xs, ys = calls.labelled("History loss")
        assert ys == [math.log10(loss) for loss in LOSSES]
        await pilot.press("g")
        assert chart.caption == "loss per epoch"


async def test_a_log_scale_counts_the_values_it_cannot_draw():
    stream = EventStream(START, tick=1.0).run_start().fit_start(epochs=3)
    for loss in (0.5, 0.0, -0.25):  # a loss can be 0 or negative (a custom one)
        stream.epoch_start().batches([loss]).epoch_end({"loss": loss})
    async with replayed(stream.fit_end().run_end().events, SIZE) as (app, pilot):
        await pilot.press("g")
        caption = app.query_one(EpochChart).caption
        assert caption == "loss per epoch · log y (2 values ≤ 0 not drawn)"


async def test_a_huge_loss_gets_short_y_labels():
    """A run whose loss overflowed and came back (tests/data/real/unscaled_sgd_overflows.py
    reached 1e24): the axis says 9.96e+23, not 996000000000000000000000.0."""
    stream = EventStream(START, tick=1.0).run_start().fit_start(epochs=2)
    for loss in (2.3e25, 9.96e23):
        stream.epoch_start().batches([loss]).epoch_end({"loss": loss})
    async with replayed(stream.fit_end().run_end().events, SIZE) as (app, _pilot):
        text = _text(app.query_one(EpochChart))
        assert "2.3e+25" in text and "9.96e+23" in text
        assert "000000000" not in text


async def test_the_cursor_reads_the_events_values_at_one_epoch():
    events = load_events("two_fits")
    ends = [event for event in events if event.type == "epoch_end"]
    async with replayed(events, SIZE) as (app, pilot):
        chart = app.query_one(EpochChart)
        # ← → still switch tabs while the tabs have the focus.
        await pilot.press("right")
        assert app.query_one(TabbedContent).active == "output-tab"
        await pilot.press("left")
        assert app.query_one(TabbedContent).active == "loss-tab"
        while not chart.has_focus:
            await pilot.press("tab")
        await pilot.pause()
        assert chart.cursor is None and CURSOR_HINT in _text(chart)
        await pilot.press("left")  # the first press places it on the last epoch
        assert chart.cursor == len(ends) - 1
        await pilot.press("left", "left")
        record = app.state.history[len(ends) - 3]
        logs = ends[len(ends) - 3].logs
        reading = " · ".join(
            [f"epoch {record.number}"] + [f"{key} {value:.4f}" for key, value in logs.items()]
        )
        assert chart.cursor_text.startswith(reading)
        assert chart.cursor_text in _text(chart) or chart.cursor_text[:40] in _text(chart)
        await pilot.press("home")
        assert chart.cursor_text.startswith("epoch 1 · loss ")
        await pilot.press("left")  # stays on the first epoch
        assert chart.cursor == 0
        await pilot.press("end")
        assert chart.cursor == len(ends) - 1
        await pilot.press("escape")
        assert chart.cursor is None and chart.cursor_text == ""


async def test_a_click_puts_the_cursor_on_the_nearest_epoch():
    stream = timed_run()
    async with replayed(stream.events, SIZE) as (app, pilot):
        chart = app.query_one(EpochChart)
        left, right = chart._plot_columns()
        await pilot.click(EpochChart, offset=(right, chart.size.height // 2))
        assert chart.has_focus and chart.cursor == len(LOSSES) - 1
        await pilot.click(EpochChart, offset=(left, chart.size.height // 2))
        assert chart.cursor == 0
        assert chart.cursor_text == "epoch 1 · loss 2.0000 · accuracy 0 · val_loss 2.4000"
        middle = left + (right - left) * 2 // 5  # epoch 3 of 6: 40% of the way
        await pilot.click(EpochChart, offset=(middle, chart.size.height // 2))
        assert chart.cursor == 2
        # On a step axis the reading says where the epoch is.
        await pilot.press("t")
        assert chart.cursor_text.startswith(f"epoch 3 (step {sum(STEPS[:3])}) · loss 0.9000")


async def test_p_saves_an_svg_screenshot(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    async with replayed(timed_run().events, SIZE) as (app, pilot):
        await pilot.press("p")
        await pilot.pause()
        [svg] = list(tmp_path.glob("*.svg"))
        assert svg.read_text().lstrip().startswith("<svg")
        assert "Screenshot saved" in str([n.message for n in app._notifications])


def _text(chart: EpochChart) -> str:
    return chart.render().plain


def test_chart_cursor_snapshot(snap_compare):
    """The recorded two-fit run's chart, smoothed (β 0.6) with the cursor on epoch 3:
    the yellow line, and under the chart the values History logged then."""

    async def cursor_on_epoch_3(pilot):
        app = pilot.app
        await wait_until(pilot, lambda: app.state.finished)
        await pilot.press("right_square_bracket", "right_square_bracket")
        chart = app.query_one(EpochChart)
        chart.focus()
        await pilot.press("home", "right", "right")
        await pilot.pause(0.3)

    app = MonitorApp(RecordedSource(load_events("two_fits")))
    assert snap_compare(app, terminal_size=(100, 34), run_before=cursor_on_epoch_3)
