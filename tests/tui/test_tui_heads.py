"""The Heads tab, driven through Textual's Pilot on a recorded three-head run."""

from __future__ import annotations

from event_stream import EventStream, load_events
from textual import events as events_module
from textual.widgets import DataTable, Static, TabbedContent
from tui_helpers import StandInLiveSource, running, wait_until

from kmon.engine.log.sources import RecordedSource
from kmon.tui.app import MonitorApp
from kmon.tui.widgets.head_grid import NO_HEADS, WAITING, HeadGrid

SIZE = (100, 30)


def table_rows(app: MonitorApp) -> list[list[str]]:
    table = app.query_one(HeadGrid).query_one(DataTable)
    return [[str(cell) for cell in table.get_row_at(index)] for index in range(table.row_count)]


def text_of(app: MonitorApp, widget_id: str) -> str:
    return str(app.query_one(HeadGrid).query_one(widget_id, Static).content)


async def test_h_shows_the_grid_of_a_recorded_three_head_run():
    events = load_events("three_heads")
    last = [e.logs for e in events if e.type == "epoch_end"][-1]

    app = MonitorApp(RecordedSource(events))
    async with running(app, SIZE) as pilot:
        await wait_until(pilot, lambda: app.state.finished)
        await pilot.press("h")
        assert app.query_one(TabbedContent).active == "heads-tab"
        await pilot.pause()
        assert app.query_one(HeadGrid).region.height > 0
        table = app.query_one(HeadGrid).query_one(DataTable)
        labels = [str(column.label) for column in table.columns.values()]
        assert labels == ["head", "weight", "loss", "val loss", "accuracy", "val accuracy"]
        rows = table_rows(app)
        assert [row[0] for row in rows] == ["total", "is_positive", "topic_id", "loss_ratio"]
        assert rows[0][2] == f"{last['loss']:.4f} ↓"
        assert rows[0][4:] == ["per head only", "per head only"]
        assert rows[3][1:4] == [
            "×2.0",
            f"{last['loss_ratio_loss']:.4f} ↓",
            f"{last['val_loss_ratio_loss']:.4f} ↓",
        ]
        assert rows[3][4:] == ["not configured", "not configured"]
        assert text_of(app, "#head-summary").startswith("4 losses = total + 3 heads")
        assert "none on loss_ratio (regression: mse)" in text_of(app, "#head-summary")
        assert text_of(app, "#head-check").startswith("Per batch, total = 1.0·is_positive")
        await pilot.press("l")
        assert app.query_one(TabbedContent).active == "loss-tab"


async def test_grid_updates_live_from_the_first_batch():
    source = StandInLiveSource()
    heads = {
        "a": {"loss": "mse", "weight": 1.0, "metrics": ["a_mae"], "loss_key": "a_loss"},
        "b": {"loss": "mse", "weight": 0.5, "metrics": [], "loss_key": "b_loss"},
    }
    stream = EventStream(None).run_start().fit_start(epochs=2, steps=4, heads=heads)
    source.put(*stream.take())

    app = MonitorApp(source)
    async with running(app, SIZE) as pilot:
        await pilot.press("h")
        await wait_until(pilot, lambda: app.state.heads is not None)
        await pilot.pause(0.15)
        # Structure before any value: the counting question is answered at once.
        assert text_of(app, "#head-summary") != WAITING
        assert table_rows(app)[1][2] == "pending"
        logs = {"loss": 1.5, "a_loss": 1.0, "b_loss": 1.0, "a_mae": 0.8}
        source.put(*stream.epoch_start().batch(logs, size=8).take())
        await wait_until(pilot, lambda: table_rows(app)[1][2] == "1.0000")
        assert table_rows(app)[1][4] == "0.8000"
        assert table_rows(app)[2][4] == "not configured"
        assert table_rows(app)[1][3] == "pending"  # validation comes after the epoch


async def test_a_model_without_compiled_heads_says_so():
    source = StandInLiveSource()
    stream = EventStream(None).run_start().fit_start(epochs=1, steps=4)
    source.put(*stream.take())

    app = MonitorApp(source)
    async with running(app, SIZE) as pilot:
        await pilot.press("h")
        await wait_until(pilot, lambda: app.state.heads is not None)
        await pilot.pause(0.15)
        assert text_of(app, "#head-summary") == WAITING
        source.put(*stream.epoch_start().batch({"loss": 1.0, "gap": 0.1}, size=8).take())
        await wait_until(pilot, lambda: text_of(app, "#head-summary") == NO_HEADS)
        assert not app.query_one(HeadGrid).query_one(DataTable).display


async def test_grid_shown_again_after_the_run_ended_keeps_its_columns_wide():
    """Seen while training, then reopened from another tab after the run ended: the
    cells are full width in what the terminal paints, not cropped to the headers
    (``tota  Σ  0.14``). A terminal paints the table as soon as it has its size
    again, before the table's idle; the test paints there too."""
    events = load_events("three_heads")
    first_end = [e.type for e in events].index("epoch_end")
    last = [e.logs for e in events if e.type == "epoch_end"][-1]
    source = StandInLiveSource()
    source.put(*events[: first_end + 1])

    app = MonitorApp(source)
    async with running(app, (120, 40)) as pilot:
        await wait_until(pilot, lambda: app.state.history)
        await pilot.press("h")
        await wait_until(pilot, lambda: table_rows(app) and table_rows(app)[0][0] == "total")
        table = app.query_one(HeadGrid).query_one(DataTable)
        painted: list[list[str]] = []

        def paint(message) -> None:
            if isinstance(message, events_module.Resize):
                painted.append([table.render_line(y).text for y in range(2)])

        table.message_signal.subscribe(table, paint, immediate=True)
        await pilot.press("o")
        source.put(*events[first_end + 1 :])
        source.running = False
        await wait_until(pilot, lambda: app.state.finished)
        await pilot.pause(0.2)
        await pilot.press("h")
        await pilot.pause(0.3)
        assert painted, "the table was not laid out again"
        total = f"{last['loss']:.4f} ↓"
        for header, row in [*painted, [table.render_line(y).text for y in range(2)]]:
            assert header.split() == ["head", "weight", "loss", "val", "loss"] + [
                "accuracy",
                "val",
                "accuracy",
            ]
            assert row.split()[:4] == ["total", "Σ", *total.split()]
            assert "per head only   per head only" in row
