"""Screenshots of the Heads tab on a recorded three-head run, compared with accepted
SVG baselines (see tests/tui/test_tui_snapshots.py for how baselines are reviewed)."""

from __future__ import annotations

from event_stream import load_events
from tui_helpers import wait_until

from kmon.engine.log.sources import RecordedSource
from kmon.tui.app import MonitorApp


async def show_heads(pilot) -> None:
    app = pilot.app
    await wait_until(pilot, lambda: app.state.finished)
    await pilot.press("h")
    await pilot.pause()


def test_heads_tab_100x30(snap_compare):
    """Three heads: summary, grid with 'not configured' and 'per head only' cells,
    the per-batch check and History's step-vs-sample explanation."""
    app = MonitorApp(RecordedSource(load_events("three_heads")))
    assert snap_compare(app, terminal_size=(100, 30), run_before=show_heads)


def test_heads_tab_80x24(snap_compare):
    """The same in a small terminal: text wraps, the tab scrolls."""
    app = MonitorApp(RecordedSource(load_events("three_heads")))
    assert snap_compare(app, terminal_size=(80, 24), run_before=show_heads)
