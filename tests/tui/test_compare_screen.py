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
        assert "Compare 2 runs · metric loss (m) · x: epoch (t) · y: linear (g)" in title
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
        await pilot.press("t")
        assert screen.axis == "step"
        await pilot.press("x")  # the same key under its other name
        assert screen.axis != "step"
        await pilot.press("g")
        assert "y: log (g)" in str(screen.query_one("#compare-title").render())
        await app.workers.wait_for_complete()  # the batches, read behind the epoch view
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


async def test_inputs_without_runs_show_an_empty_table_that_says_where_it_looked(tmp_path):
    (tmp_path / "empty").mkdir()
    notes = tmp_path / "notes.txt"
    notes.write_text("no events here\n")
    screen = CompareScreen(str(tmp_path / "empty"), str(notes), runs_dir=tmp_path)
    app = CompareApp(screen.comparison)
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.pause()
        await app.push_screen(screen)
        await pilot.pause()
        table = screen.query_one(DataTable)
        assert table.row_count == 0 and table.columns
        caption = str(screen.query_one("#compare-caption").render())
        assert caption.startswith("no runs to compare: ")
        assert f"no TensorBoard event files in {tmp_path / 'empty'}" in caption
        assert "notes.txt: not a kmon event log" in caption


def test_the_compare_screen_of_two_recorded_runs(snap_compare):
    """Two recorded runs overlaid (loss per epoch), their table and their fits."""
    assert snap_compare(_app("two_fits.jsonl", "three_heads.jsonl"), terminal_size=(120, 36))


async def test_the_per_batch_view_says_loading_until_the_batches_are_read(monkeypatch):
    """The epoch view comes first; the batches are read behind it, and the
    per-batch view says so until they are there."""
    import threading

    import kmon.tui.screens.compare as compare_module

    go = threading.Event()
    real = compare_module.read_batches

    def slow_read(paths, **kwargs):
        go.wait(10)
        return real(paths, **kwargs)

    monkeypatch.setattr(compare_module, "read_batches", slow_read)
    app = _app("two_fits.jsonl", "failed.jsonl")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        chart = app.screen.query_one(CompareChart)
        assert chart.drawn == 2  # the epoch view does not wait for the batches
        await pilot.press("b")
        assert chart.drawn == 0
        assert "1 two_fits.py: loading per-batch…" in chart.caption
        assert "2 failed.py: loading per-batch…" in chart.caption
        go.set()
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert chart.drawn == 2
        assert "1 two_fits.py: each batch's own value (recovered)" in chart.caption
