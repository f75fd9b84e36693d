"""Screenshots of the Alarms tab on a recorded run (tests/data/alarms.jsonl),
compared with accepted SVG baselines. After a deliberate change, review and accept
new baselines with ``pytest tests/tui/test_alarm_snapshots.py --snapshot-update``."""

from __future__ import annotations

from event_stream import load_events
from tui_helpers import wait_until

from kmon.engine.log.sources import RecordedSource
from kmon.tui.app import MonitorApp


async def show_alarms(pilot) -> None:
    app = pilot.app
    await wait_until(pilot, lambda: app.state.finished)
    await pilot.press("a")
    await pilot.pause()


def test_alarms_tab_100x40(snap_compare):
    """Two active alarms (unscaled_data, prediction_variance) with evidence, causes and
    fixes; the history with vanishing_gradients raised then cleared; the header badge."""
    app = MonitorApp(RecordedSource(load_events("alarms")))
    assert snap_compare(app, terminal_size=(100, 40), run_before=show_alarms)


def test_alarms_tab_80x24(snap_compare):
    """The same in a small terminal: the pane scrolls, the badge stays in the header."""
    app = MonitorApp(RecordedSource(load_events("alarms")))
    assert snap_compare(app, terminal_size=(80, 24), run_before=show_alarms)
