"""The monitor's screen paints a frame's changed rows as Textual's compositor does,
byte for byte, asking the widgets for those rows only."""

from __future__ import annotations

from collections import Counter

from event_stream import EventStream
from textual._compositor import Compositor
from textual.geometry import Region
from textual.widget import Widget
from tui_helpers import StandInLiveSource, running, wait_until

from kmon.tui.app import MonitorApp
from kmon.tui.row_compositor import RowCompositor
from kmon.tui.widgets.run_header import RunHeader
from kmon.tui.widgets.series_panel import SeriesPanel

SIZE = (120, 40)


def _training() -> EventStream:
    stream = EventStream(None).run_start("/somewhere/train.py").fit_start(epochs=3, steps=40)
    stream.epoch_start()
    for step in range(30):
        stream.batch({"loss": 1.0 / (step + 1)}, {"loss": 1.0 / (step + 2)}, size=8)
    return stream.epoch_end().epoch_start()


def _partial(
    compositor: Compositor, regions: list[Region], console, *, textuals: bool = False
) -> tuple[str, Counter]:
    """What a partial update of ``regions`` writes to the terminal, and the rows each
    widget class was asked to render for it; with ``textuals``, by Textual's own
    compositor's method, on the same map of the screen."""
    rows: Counter = Counter()
    render_lines = Widget.render_lines
    kind = type(compositor)

    def counted(widget, crop):
        rows[type(widget).__name__] += crop.height
        return render_lines(widget, crop)

    Widget.render_lines = counted
    if textuals:
        compositor.__class__ = Compositor
    try:
        compositor._dirty_regions.clear()
        compositor._dirty_regions.update(regions)
        update = compositor.render_partial_update()
    finally:
        Widget.render_lines = render_lines
        compositor.__class__ = kind
    return update.render_segments(console), rows


async def test_a_partial_update_paints_what_textuals_compositor_paints():
    source = StandInLiveSource()
    source.put(*_training().take())
    app = MonitorApp(source)
    async with running(app, SIZE) as pilot:
        await wait_until(pilot, lambda: app.state.batches == 30)
        await pilot.pause(0.3)
        screen = app.screen
        ours = screen._compositor
        assert type(ours) is RowCompositor  # this Textual has the method it overrides
        header = screen.query_one(RunHeader)
        stats = screen.query_one("#batch-values", SeriesPanel)._label
        where = {widget: ours.visible_widgets[widget][0] for widget in (header, stats)}
        progress_line = Region(where[header].x, where[header].y + 1, where[header].width, 1)
        cases = {
            "the progress line": [progress_line],
            "the header and a stats line": [where[header], where[stats]],
            "the progress line and a sparkline's row": [
                progress_line,
                Region(0, where[stats].y - 1, SIZE[0], 1),
            ],
            "part of a row": [Region(10, where[stats].y, 20, 1)],
            "the epoch chart and what is under it": [
                ours.visible_widgets[screen.query_one("#epoch-box")][0]
            ],
            "the whole screen": [screen.region],
        }
        for name, regions in cases.items():
            painted, asked = _partial(ours, regions, app.console)
            expected, asked_plain = _partial(ours, regions, app.console, textuals=True)
            assert painted == expected, name
            box = Region.from_union(regions)
            assert max(asked.values()) <= box.height, name
            if box.height < SIZE[1]:
                assert sum(asked.values()) < sum(asked_plain.values()), name
        # One header row: the tabbed content and the footer are not asked at all,
        # nor the screen under the header's row.
        _, asked = _partial(ours, [progress_line], app.console)
        assert set(asked) == {"RunHeader"}, asked
        # The progress line and a stats line: the tab bar between them changes no
        # row, and is not asked either; nor are the containers the batch panel
        # covers on its rows (the screen, the tabbed content, its pane), which
        # Textual's compositor renders and paints over.
        stats_row = Region(where[stats].x, where[stats].y, where[stats].width, 1)
        _, asked = _partial(ours, [progress_line, stats_row], app.console)
        assert not {"ContentTabs", "ContentTab", "Underline"} & set(asked), asked
        _, asked_plain = _partial(ours, [progress_line, stats_row], app.console, textuals=True)
        under = {"Screen", "TabbedContent", "ContentSwitcher", "TabPane"}
        assert under <= set(asked_plain), asked_plain
        assert not under & set(asked), asked
        assert {"RunHeader", "Label", "SeriesPanel"} <= set(asked), asked
