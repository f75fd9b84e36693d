"""Driving kmon's Textual app in tests: run it on a source, wait for what it shows,
read its header; and a live source the test feeds by hand."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager

from textual.app import App
from textual.pilot import Pilot

from kmon.engine.events import Event
from kmon.engine.log.sources import RecordedSource
from kmon.engine.run.channel import MonitorChannel
from kmon.tui.app import MonitorApp
from kmon.tui.widgets.run_header import RunHeader


@asynccontextmanager
async def running(app: App, size: tuple[int, int] = (80, 24)) -> AsyncIterator[Pilot]:
    """``app.run_test(size=size)`` that exits the app on the way out.

    Leaving ``run_test`` without ``app.exit()`` tears the screens down while the
    app's 10 Hz interval can still fire, and a tick then finds no widgets to draw
    on (an intermittent NoMatches). ``exit()`` stops the interval first.
    """
    async with app.run_test(size=size) as pilot:
        try:
            yield pilot
        finally:
            if app.return_value is None:
                app.exit()


@asynccontextmanager
async def replayed(
    events: Iterable[Event],
    size: tuple[int, int] = (80, 24),
    until: Callable[[MonitorApp], bool] = lambda app: app.state.finished,
) -> AsyncIterator[tuple[MonitorApp, Pilot]]:
    """The monitor replaying ``events``, once ``until(app)`` holds (by default: once
    it has shown the whole run) and the screen has caught up."""
    app = MonitorApp(RecordedSource(list(events)))
    async with running(app, size) as pilot:
        await wait_until(pilot, lambda: until(app))
        await pilot.pause()
        yield app, pilot


def header_text(app: MonitorApp) -> str:
    """The run header's text: the title line, then the progress line."""
    return str(app.query_one(RunHeader).text)


async def wait_until(pilot: Pilot, condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Let the app run (its 10 Hz tick included) until ``condition()`` holds: at
    most ``timeout`` seconds, which a 2-core machine under a full suite needs (3 s
    timed out once there with the test passing alone)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {condition}")
        await pilot.pause(0.02)


class StandInLiveSource:
    """A live source driven by the test: kmon's own EventSource interface over a
    real :class:`MonitorChannel`, with ``running`` set by hand and stop requests
    recorded instead of sent to a training thread."""

    live = True
    buffered = True

    def __init__(self) -> None:
        self.channel = MonitorChannel()
        self.running = True
        self.stop_requests = 0

    def put(self, *events: Event) -> None:
        for event in events:
            self.channel.put(event)

    def drain(self) -> list[Event]:
        return self.channel.drain()

    @property
    def dropped(self) -> int:
        return self.channel.dropped


    def request_stop(self) -> None:
        self.stop_requests += 1
