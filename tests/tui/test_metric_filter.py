"""The metric filter (``/``) on a model that logs thirty metrics: the Heads grid and
the epoch chart keep the ones whose key matches, Escape brings them all back, and
no other key of the monitor is lost while it is closed."""

from __future__ import annotations

from event_stream import EventStream
from textual.widgets import DataTable, Static, TabbedContent
from tui_helpers import replayed, wait_until

from kmon.engine.log.sources import RecordedSource
from kmon.tui.app import MonitorApp
from kmon.tui.widgets.epoch_chart import EpochChart
from kmon.tui.widgets.head_grid import HeadGrid
from kmon.tui.widgets.metric_filter import MetricFilter, metric_matcher

SIZE = (120, 36)
KINDS = ("mae", "mse", "accuracy", "auc", "precision", "recall")
#: Thirty metrics, six kinds five times: m00_mae ... m29_recall.
NAMES = [f"m{index:02d}_{KINDS[index % len(KINDS)]}" for index in range(30)]
EPOCHS = 6


def thirty_metrics() -> EventStream:
    """A one-output model compiled with thirty metrics, six epochs of four batches,
    validated after each epoch."""
    stream = EventStream(1000.0, tick=0.5).run_start()
    heads = {"out": {"loss": "mse", "weight": 1.0, "metrics": NAMES, "loss_key": None}}
    stream.fit_start(epochs=EPOCHS, steps=4, heads=heads)
    for epoch in range(EPOCHS):
        stream.epoch_start()
        logs = {"loss": 1 / (epoch + 1)}
        logs.update({name: (index + 1) / (epoch + 2) for index, name in enumerate(NAMES)})
        for _step in range(4):
            stream.batch(logs, {"loss": logs["loss"]}, size=8)
        stream.val_end(logs)
        stream.epoch_end({**logs, **{f"val_{key}": value * 1.1 for key, value in logs.items()}})
    return stream.fit_end().run_end()


def grid_columns(app) -> list[str]:
    table = app.query_one(HeadGrid).query_one(DataTable)
    return [str(column.label) for column in table.columns.values()]


def test_the_filter_is_a_case_insensitive_regex_or_else_plain_text():
    assert metric_matcher("")("anything")
    assert metric_matcher("ACC")("val_accuracy")
    assert metric_matcher("^val_")("val_loss") and not metric_matcher("^val_")("loss")
    assert metric_matcher("mae|auc")("m03_auc") and not metric_matcher("mae|auc")("m02_accuracy")
    broken = metric_matcher("mse(")  # no valid expression: the text itself
    assert broken("custom_mse(x)") and not broken("mse")


async def test_slash_filters_the_heads_grid_and_the_chart():
    async with replayed(thirty_metrics().events, SIZE) as (app, pilot):
        await pilot.press("h")
        await pilot.pause(0.2)
        assert len(grid_columns(app)) == 2 + 2 * 31  # head, weight; loss and 30, train and val
        filter_input = app.query_one(MetricFilter)
        assert not filter_input.display

        await pilot.press("slash", *"AUC")
        await pilot.pause(0.2)
        assert filter_input.display and filter_input.has_focus
        assert filter_input.value == "AUC"  # the "/" that opened it is not typed in
        auc = [name for name in NAMES if name.endswith("_auc")]
        expected = [column for name in auc for column in (name, f"val {name}")]
        assert grid_columns(app) == ["head", "weight", *expected]
        status = str(app.query_one(HeadGrid).query_one("#head-filter", Static).content)
        assert status.startswith("filter /AUC/: 10 of 62 columns")
        # The grid's cells are the events' values, under the kept columns.
        table = app.query_one(HeadGrid).query_one(DataTable)
        head_row = [str(cell) for cell in table.get_row_at(1)]
        last = app.state.history[-1].logs
        assert head_row[0] == "out" and head_row[2].startswith(f"{last[auc[0]]:.4f}")

        chart = app.query_one(EpochChart)
        assert chart.caption.startswith(", ".join(auc + [f"val_{name}" for name in auc]))
        assert "per epoch" in chart.caption

        # Enter keeps the filter and gives the keys back to the monitor.
        await pilot.press("enter", "l")
        assert app.query_one(TabbedContent).active == "loss-tab"
        assert chart.view.filter == "AUC"

        # Escape in the filter clears it: every column and the loss chart again.
        await pilot.press("slash")
        await pilot.pause()
        assert filter_input.has_focus
        await pilot.press("escape")
        await pilot.pause(0.2)
        assert not filter_input.display and filter_input.value == ""
        assert chart.view.filter == "" and chart.caption == "loss per epoch"
        await pilot.press("h")
        await pilot.pause(0.2)
        assert len(grid_columns(app)) == 64


async def test_a_filter_that_matches_nothing_says_so():
    async with replayed(thirty_metrics().events, SIZE) as (app, pilot):
        await pilot.press("slash", *"nosuch", "enter")
        await pilot.pause(0.2)
        assert app.query_one(EpochChart).caption.startswith("no metric matches /nosuch/")
        await pilot.press("h")
        await pilot.pause(0.2)
        assert grid_columns(app) == ["head", "weight"]
        status = str(app.query_one(HeadGrid).query_one("#head-filter", Static).content)
        assert status.startswith("filter /nosuch/: no column")


async def test_keys_typed_in_the_filter_are_text_not_commands():
    """q, l, t, [ typed into the filter are its text: the app neither quits nor
    switches tab nor changes the chart."""
    async with replayed(thirty_metrics().events, SIZE) as (app, pilot):
        await pilot.press("slash", "q", "l", "t", "left_square_bracket", "slash")
        await pilot.pause()
        assert app.query_one(MetricFilter).value == "qlt[/"
        assert app.return_value is None
        assert app.query_one(EpochChart).view.x_mode == "epoch"
        assert app.query_one(EpochChart).view.smoothing == 0


async def test_many_matches_are_capped_and_counted():
    async with replayed(thirty_metrics().events, SIZE) as (app, pilot):
        await pilot.press("slash", *"^m", "enter")
        await pilot.pause(0.2)
        caption = app.query_one(EpochChart).caption
        # Thirty training keys match, six colours for them; none of validation's.
        assert caption.startswith(", ".join(NAMES[:6]) + " per epoch")
        assert caption.endswith(" · +24 more match: narrow the filter")
        await pilot.press("slash", "escape", "slash", *"m[0-9]+_", "enter")
        await pilot.pause(0.2)
        caption = app.query_one(EpochChart).caption
        # And validation's too: six colours each, 48 left off.
        assert ", val_m00_mae, " in caption and "+48 more match" in caption


def test_filtered_grid_snapshot(snap_compare):
    """The Heads tab of the thirty-metric model filtered to ``prec``: the filter's
    line at the bottom, five precision columns and their validation's."""

    async def filter_precision(pilot):
        await wait_until(pilot, lambda: pilot.app.state.finished)
        await pilot.press("h", "slash", *"prec")
        await pilot.pause(0.3)

    app = MonitorApp(RecordedSource(thirty_metrics().events))
    assert snap_compare(app, terminal_size=(100, 24), run_before=filter_precision)
