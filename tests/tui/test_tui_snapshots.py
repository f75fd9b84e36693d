"""Screenshots of the monitor on recorded runs, compared with accepted SVG baselines.

A finished recording draws the same screen on every machine: the app takes "now"
from the recording's own timestamps, never from the wall clock. After a deliberate
UI change, review and accept new baselines with
``pytest tests/tui/test_tui_snapshots.py --snapshot-update``.
"""

from __future__ import annotations

from event_stream import load_events
from tui_helpers import wait_until

from kmon.engine.log.sources import RecordedSource
from kmon.tui.app import MonitorApp
from kmon.tui.widgets.log_pane import LogPane


def replay(name: str) -> MonitorApp:
    return MonitorApp(RecordedSource(load_events(name)))


async def show_output(pilot) -> None:
    """Switch to the Output tab and wait until the pane has drawn every line."""
    app = pilot.app
    await pilot.press("o")
    await wait_until(pilot, lambda: app.query_one(LogPane).lines_shown == app.state.log_total)
    await pilot.pause()


def test_finished_run_80x24(snap_compare):
    """Loss tab of a finished two-fit run: header, both batch sparklines, epoch chart
    (History loss, val_loss, evaluate() on train), the last epoch's explanation."""
    assert snap_compare(replay("two_fits"), terminal_size=(80, 24))


def test_finished_run_120x40(snap_compare):
    """The same run in a larger terminal: the chart and explanation get the room."""
    assert snap_compare(replay("two_fits"), terminal_size=(120, 40))


def test_output_tab_of_a_failed_run(snap_compare):
    """Output tab of a run that raised: "failed (exit 1)" and the exception in the
    header, the script's lines then its traceback in the pane."""
    assert snap_compare(replay("failed"), terminal_size=(80, 24), run_before=show_output)


def test_help_screen(snap_compare):
    """The help screen over a finished run."""
    assert snap_compare(replay("two_fits"), press=["question_mark"], terminal_size=(80, 24))
