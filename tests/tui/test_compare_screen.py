"""The compare screen under Pilot: runs given as paths, their colours and table,
and the keys that pick the metric, the x axis, the y scale and the level."""

from __future__ import annotations

from locations import DATA
from textual.widgets import DataTable

from kmon.tui.screens.compare import CompareApp, CompareScreen, load_comparison
from kmon.tui.widgets.compare_chart import CompareChart


def _app(*names: str) -> CompareApp:
    comparison, problems = load_comparison(tuple(str(DATA / name) for name in names))
    assert problems == []
    return CompareApp(comparison)


async def test_keys_change_metric_axis_scale_and_level():
    app = _app("two_fits.jsonl", "failed.jsonl")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, CompareScreen)
        title = str(screen.query_one("#compare-title").render())
        assert "Compare 2 runs · metric loss (m) · x: epoch (x) · y: linear (g)" in title
        chart = screen.query_one(CompareChart)
        assert chart.drawn == 2
        table = screen.query_one(DataTable)
        assert table.row_count == 2
        assert [str(cell) for cell in table.get_row_at(1)][1:4] == ["kmon log", "1", "0:02"]
        caption = str(screen.query_one("#compare-caption").render())
        assert "2 failed.py lacks val_loss" in caption
        await pilot.press("m")
        assert screen.key == "val_loss" and chart.drawn == 1
        assert "2 failed.py: no val_loss" in chart.caption
        await pilot.press("x")
        assert screen.axis == "step"
        await pilot.press("g")
        assert "y: log (g)" in str(screen.query_one("#compare-title").render())
        await pilot.press("M", "b")
        assert screen.batches and chart.drawn == 2
        assert "1 two_fits.py: each batch's own value (recovered)" in chart.caption
        await pilot.press("q")
    assert not app.is_running


async def test_runs_with_different_heads_share_the_total_loss():
    app = _app("three_heads.jsonl", "two_fits.jsonl")
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert screen.comparison.shared() == ["loss", "val_loss"]
        text = str(screen.query_one("#alarms-0").render())
        assert "three_heads.py" in text and "2 epochs" in text
