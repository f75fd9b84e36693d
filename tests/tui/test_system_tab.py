"""The System tab, the header's system and learning-rate fields, and the learning
rate under the epoch chart, on a replay of fixed ``system`` and learning-rate
events (tests/system_stream.py)."""

from __future__ import annotations

from event_stream import EventStream
from system_stream import system_run

from kmon.engine.log.sources import RecordedSource
from kmon.tui.app import MonitorApp
from kmon.tui.widgets.learning_rate_panel import LearningRatePanel
from kmon.tui.widgets.run_header import RunHeader
from kmon.tui.widgets.series_panel import SeriesPanel
from kmon.tui.widgets.system_pane import NO_SAMPLES, SystemPane


def replay(*, gpus: bool = True) -> MonitorApp:
    return MonitorApp(RecordedSource(system_run(gpus=gpus).events))


async def show_system(pilot) -> None:
    await pilot.press("y")
    await pilot.pause()
    await pilot.pause()


async def test_system_tab_shows_a_sparkline_per_quantity():
    app = replay()
    async with app.run_test(size=(120, 40)) as pilot:
        await show_system(pilot)
        pane = app.query_one(SystemPane)
        titles = [panel.border_title for panel in pane.query(SeriesPanel)]
        assert titles[:4] == [
            "GPU0 utilization (%)",
            "GPU0 memory used (GiB)",
            "GPU0 temperature (°C)",
            "GPU0 power (W)",
        ]
        assert "process CPU (%)" in titles and "process RSS (GiB)" in titles
        text = str(pane.query_one("#system-summary").render())
        assert "process CPU 180% of 16 cores" in text and "31 samples" in text
        note = str(pane.query_one("#system-note").render())
        assert note == "GPU0 NVIDIA A100-SXM4-80GB · processes: 4242 (this run) 14.2 GiB"
        header = app.query_one(RunHeader).text
        assert "lr 0.00025  GPU0 87% 14.2/80 GiB · CPU 180% · RSS 3.1 GiB  elapsed" in header


async def test_without_a_gpu_the_tab_says_so_in_one_line():
    app = replay(gpus=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await show_system(pilot)
        pane = app.query_one(SystemPane)
        note = str(pane.query_one("#system-note").render())
        assert note == "no GPU: NVML is not available (NVML Shared Library Not Found)."
        assert not any(p.border_title.startswith("GPU") for p in pane.query(SeriesPanel))
        assert "CPU 180% · RSS 3.1 GiB" in app.query_one(RunHeader).text


async def test_a_log_without_samples_says_how_to_get_them():
    stream = EventStream().run_start().script_start().fit_start(epochs=1, steps=2)
    app = MonitorApp(RecordedSource(stream.epoch([0.5, 0.4]).fit_end().run_end().events))
    async with app.run_test(size=(120, 40)) as pilot:
        await show_system(pilot)
        assert str(app.query_one("#system-summary").render()) == NO_SAMPLES
        # Nothing of it in the header or under the chart.
        assert "lr " not in app.query_one(RunHeader).text
        assert not app.query_one(LearningRatePanel).display


async def test_learning_rate_steps_under_the_epoch_chart():
    app = replay()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        panel = app.query_one(LearningRatePanel)
        assert panel.display
        assert panel._stats == "now 0.00025 · from 0.001 · 2 changes · 6 epochs"
        sparkline = panel.query_one("StripSparkline")
        bars = sparkline.render_line(0).text
        # Three rates, two epochs each: three flat steps down the width.
        third = len(bars) // 3
        assert bars[0] == "█" and bars[-1] == "▁"
        assert len(set(bars[:third])) == len(set(bars[-third:])) == 1


def test_system_tab_snapshot(snap_compare):
    assert snap_compare(replay(), terminal_size=(100, 30), run_before=show_system)


def test_no_gpu_system_tab_snapshot(snap_compare):
    assert snap_compare(replay(gpus=False), terminal_size=(100, 30), run_before=show_system)


def test_loss_tab_with_learning_rate_snapshot(snap_compare):
    assert snap_compare(replay(), terminal_size=(120, 40))
