"""Regenerates the monitor screenshots in docs/images/ from recorded event logs.

Each screenshot replays a log of tests/data/ into the real ``MonitorApp``, headless
(Textual's Pilot), and saves the screen as SVG once the whole run is drawn. A
finished recording draws the same screen on every machine: the app takes "now"
from the recording's own timestamps. Run it after a visible UI change:

    python docs/make_screenshots.py
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from pathlib import Path

from kmon.engine.log.eventlog import read_events
from kmon.engine.log.sources import RecordedSource
from kmon.tui.app import MonitorApp

ROOT = Path(__file__).resolve().parent.parent
RECORDINGS = ROOT / "tests" / "data"
IMAGES = ROOT / "docs" / "images"


@dataclass(frozen=True)
class Screenshot:
    """One picture: which recording, which keys before it, what size and file."""

    recording: str
    keys: tuple[str, ...]
    size: tuple[int, int]
    file: str


SCREENSHOTS = (
    Screenshot("two_fits", (), (100, 34), "monitor-loss.svg"),
    Screenshot("three_heads", ("h",), (100, 24), "monitor-heads.svg"),
    # The epoch chart smoothed (EMA 0.6, ] twice) by time since start (t three
    # times), its cursor on epoch 3 (Tab focuses the chart; ← from the last epoch).
    Screenshot(
        "two_fits",
        (
            "right_square_bracket",
            "right_square_bracket",
            "t",
            "t",
            "t",
            "tab",
            "left",
            "left",
            "left",
        ),
        (100, 34),
        "monitor-chart.svg",
    ),
)


async def take(shot: Screenshot) -> Path:
    """Replay ``shot.recording`` to its end, press ``shot.keys``, save the SVG."""
    events, report = read_events(RECORDINGS / f"{shot.recording}.jsonl")
    if report.skipped:
        raise SystemExit(f"{shot.recording}.jsonl does not read cleanly: {report.summary()}")
    app = MonitorApp(RecordedSource(events))
    async with app.run_test(size=shot.size) as pilot:
        while not app.state.finished:
            await pilot.pause(0.05)
        for key in shot.keys:
            await pilot.press(key)
        # Two ticks of the 10 Hz redraw: every throttled panel is due once a run ends.
        await pilot.pause(0.25)
        path = Path(app.save_screenshot(filename=shot.file, path=str(IMAGES)))
        app.exit()
    return path


async def main() -> None:
    # Textual draws in monochrome under NO_COLOR; the pictures are in colour.
    os.environ.pop("NO_COLOR", None)
    IMAGES.mkdir(parents=True, exist_ok=True)
    for shot in SCREENSHOTS:
        print(await take(shot))


if __name__ == "__main__":
    asyncio.run(main())
