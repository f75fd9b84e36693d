"""What the monitor's panes show after a tab was hidden and shown again: the Output
tab's wrapping and the Loss tab's explanation, driven through Textual's Pilot."""

from __future__ import annotations

import dataclasses

from event_stream import EventStream, load_events
from tui_helpers import StandInLiveSource, running, wait_until

from kmon.tui.app import MonitorApp
from kmon.tui.widgets.explanation import Explanation
from kmon.tui.widgets.log_pane import LogPane

SIZE = (120, 40)
#: 319 columns of words: three rows of the Output pane at 120 columns.
LONG = " ".join(f"word{i:03d}" for i in range(40))


def screen_text(widget) -> list[str]:
    """The rows the widget paints, as the terminal shows them."""
    return [widget.render_line(y).text.rstrip() for y in range(widget.size.height)]


async def test_output_lines_that_came_while_hidden_wrap_at_the_panes_width():
    source = StandInLiveSource()
    stream = EventStream(None).run_start().log("seen " + LONG)
    source.put(*stream.take())

    app = MonitorApp(source)
    async with running(app, SIZE) as pilot:
        await pilot.press("o")
        pane = app.query_one(LogPane)
        await wait_until(pilot, lambda: pane.lines_shown == 1)
        await pilot.press("l")
        source.put(*stream.log("hidden " + LONG).take())
        await wait_until(pilot, lambda: app.state.log_total == 2)
        await pilot.pause(0.2)
        await pilot.press("o")
        await wait_until(pilot, lambda: pane.lines_shown == 2)
        width = pane.scrollable_content_region.width
        assert width > 110
        rows = [strip.text.rstrip() for strip in pane.lines]
        starts = [i for i, row in enumerate(rows) if row.startswith(("seen", "hidden"))]
        assert starts == [0, 3]  # three rows each, not five at 78 columns
        assert all(width - 10 < len(row) <= width for row in rows[:2] + rows[3:5])
        assert " ".join(rows[3:]) == "hidden " + LONG


async def test_an_explanation_that_grew_while_the_loss_tab_was_hidden_is_shown_whole():
    events = load_events("two_fits")
    ends = [i for i, e in enumerate(events) if e.type == "epoch_end"]
    # The first epoch without validation: its explanation is a line shorter.
    first = events[ends[0]]
    logs = {key: value for key, value in first.logs.items() if key != "val_loss"}
    events[ends[0]] = dataclasses.replace(first, logs=logs)
    source = StandInLiveSource()
    source.running = False  # no throttling of the epoch panels
    source.put(*events[: ends[0] + 1])

    app = MonitorApp(source)
    async with running(app, SIZE) as pilot:
        explanation = app.query_one(Explanation)
        await wait_until(pilot, lambda: "Epoch 1:" in str(explanation.content))
        await pilot.pause(0.1)
        short = len(screen_text(explanation))
        await pilot.press("o")
        source.put(*events[ends[0] + 1 : ends[1] + 1])
        await wait_until(pilot, lambda: "Epoch 2:" in str(explanation.content))
        await pilot.press("l")
        await pilot.pause(0.2)
        rows = screen_text(explanation)
        assert len(rows) == short + 1
        text = str(explanation.visual).replace("\n", " ")
        assert " ".join(rows) == " ".join(text.split())
        assert rows[-1].endswith("with the final weights in inference mode.")


async def test_a_shorter_explanation_keeps_its_height_while_training(monkeypatch):
    """While a live run trains, an explanation a line shorter than the one before
    keeps the height (a blank row under it: no layout pass, no chart jumping); once
    training ends it takes its own height."""
    monkeypatch.setattr("kmon.tui.app.EPOCH_PANELS_SECONDS", 0.0)
    monkeypatch.setattr("kmon.tui.app.CHART_SHARE", 1.0)  # no wait for the chart's cost
    events = load_events("two_fits")
    ends = [i for i, e in enumerate(events) if e.type == "epoch_end"]
    second = events[ends[1]]
    logs = {key: value for key, value in second.logs.items() if key != "val_loss"}
    events[ends[1]] = dataclasses.replace(second, logs=logs)
    source = StandInLiveSource()
    source.put(*events[: ends[0] + 1])

    app = MonitorApp(source)
    async with running(app, SIZE) as pilot:
        explanation = app.query_one(Explanation)
        await wait_until(pilot, lambda: "Epoch 1:" in str(explanation.content))
        await pilot.pause(0.2)
        long = len(screen_text(explanation))
        source.put(*events[ends[0] + 1 : ends[1] + 1])
        await wait_until(pilot, lambda: "Epoch 2:" in str(explanation.content))
        await pilot.pause(0.2)
        rows = screen_text(explanation)
        assert len(rows) == long and rows[-1] == ""
        assert rows[-2].endswith(".")  # the text's own last row

        source.running = False
        await wait_until(pilot, lambda: len(screen_text(explanation)) == long - 1)
        assert screen_text(explanation)[-1] == rows[-2]
