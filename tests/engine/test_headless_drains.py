"""The headless loop (engine/headless/loop.py) drains a training run's batches at
most every ``BATCH_DRAIN_SECONDS``, so each drain folds one long block, and news (an
epoch's end, the script's output) at most ``DRAIN_SECONDS`` after it. Where the
script's output passes through, the loop sleeps until news rings the session's
bell, and wakes no more than that. The run is a script of timed events put into a
real channel as the loop's waits move a clock."""

from __future__ import annotations

import io
import os
from types import SimpleNamespace

import pytest
from event_stream import EventStream

from kmon.engine.events import Event, Log
from kmon.engine.headless import loop
from kmon.engine.headless.reporter import HeadlessReporter
from kmon.engine.run.channel import MonitorChannel
from kmon.engine.run.output_through import OutputThrough

T0 = 1_800_000_000.0


class _ScriptedBell:
    """The session's bell, on the scripted clock: a wait moves the clock to the
    first ring, or by its whole timeout."""

    def __init__(self, session: _ScriptedSession) -> None:
        self._session = session
        self.rung = False
        self.waits = 0

    def ring(self) -> None:
        self.rung = True

    def wait(self, timeout: float) -> bool:
        self.waits += 1
        if not self.rung:
            self._session.advance(timeout, until_ring=True)
        return self.rung

    def clear(self) -> None:
        self.rung = False


class _ScriptedSession:
    """A started session whose run puts ``events`` into a real channel when the
    clock (moved by the loop's waits) reaches their times, and ends after them.

    Args:
        events: the run's events, in order.
        output_through: where the script's output would pass through; None: the
            loop prints its lines from the log events.
    """

    def __init__(self, events: list[Event], output_through: OutputThrough | None = None) -> None:
        self.now = 0.0
        self.pending = list(events)
        self.bell = _ScriptedBell(self)
        self.channel = MonitorChannel(bell=self.bell)
        self.terminal_out, self.terminal_err = io.StringIO(), io.StringIO()
        self.log_path = "run.jsonl"
        self.finished, self.exit_code, self.dropped = False, 0, 0
        self.drains: list[tuple[float, list[str]]] = []
        self.output_through = output_through

    @property
    def last_news(self) -> int:
        return self.channel.last_news

    @property
    def drained_through(self) -> int:
        return self.channel.drained_through

    def terminal_fds(self) -> list[int]:
        return []

    def wait(self, timeout: float) -> bool:
        self.advance(timeout)
        return self.finished

    def advance(self, seconds: float, *, until_ring: bool = False) -> None:
        """Move the clock by ``seconds``, putting the events due; with
        ``until_ring``, stop at the first event that rings the bell."""
        end = self.now + seconds
        while self.pending and self.pending[0].t - T0 <= end:
            event = self.pending.pop(0)
            self.now = max(self.now, event.t - T0)
            self.channel.put(event)
            if not self.pending:
                self.finished = True
                self.bell.ring()  # as the run's end rings it
            if until_ring and self.bell.rung:
                return
        self.now = end

    @property
    def news_waiting(self) -> bool:
        return self.channel.news_waiting

    def drain(self) -> list[Event]:
        items = self.channel.drain()
        self.drains.append((self.now, [item.type for item in items]))
        return items

    def close(self) -> None:
        pass

    def request_stop(self) -> str:
        raise AssertionError("nothing stops this run")


def _run() -> list[Event]:
    """An epoch of 1,500 1-ms batches, the script printing a line after 1,230, and
    a second epoch of 300."""
    stream = EventStream(T0, tick=0.001).run_start("/x/train.py").fit_start(epochs=2, steps=1500)
    stream.epoch_start().batches([1.0 / (1 + step / 1000) for step in range(1230)], size=8)
    stream.add(Log, stream="stdout", text="the script's line")
    stream.batches([0.5] * 270, size=8).epoch_end({"loss": 1.0})
    stream.epoch_start().batches([0.25] * 300, size=8).epoch_end({"loss": 0.5})
    return stream.fit_end().run_end().events


@pytest.fixture
def output_file(tmp_path):
    fd = os.open(tmp_path / "terminal", os.O_WRONLY | os.O_CREAT)
    yield fd
    os.close(fd)


@pytest.mark.parametrize("passed_through", [False, True], ids=["echoed", "passed-through"])
def test_batches_drain_twice_a_second_and_news_within_a_tenth(
    monkeypatch, output_file, passed_through
):
    events = _run()
    through = None
    if passed_through:
        through = OutputThrough({"stdout": output_file, "stderr": output_file}, (b"\0",))
    session = _ScriptedSession(events, through)
    monkeypatch.setattr(
        loop, "time", SimpleNamespace(monotonic=lambda: session.now, sleep=session.advance)
    )
    monkeypatch.setattr(loop, "_freeze_what_is_alive", lambda: True)
    assert loop.follow_headless(session) == 0
    wakes = [now for now, _ in session.drains]
    only_batches = [now for now, types in session.drains if types and set(types) == {"batch"}]
    assert only_batches, session.drains
    for now in only_batches:
        before = max(wake for wake in wakes if wake < now)
        assert now - before >= loop.BATCH_DRAIN_SECONDS - 1e-9, session.drains
    # The script's lines are news only where the loop prints them.
    printed = ("epoch_end", "fit_start") if passed_through else ("log", "epoch_end", "fit_start")
    news = [event for event in events if event.type in printed]
    for event in news:
        put = event.t - T0
        drained = min(wake for wake in wakes if wake >= put)
        assert drained - put <= loop.DRAIN_SECONDS + 1e-9, (event, session.drains)
    # 1.8 s of batches: 3-4 drains of theirs (twice a second, not ten times), and
    # one for each piece of news.
    assert len(session.drains) <= 1.8 / 0.5 + len(news) + 2
    if passed_through:  # and no more wakes than drains: it sleeps between them
        assert session.bell.waits <= len(session.drains) + 1, (session.bell.waits, session.drains)
    expected = io.StringIO()
    reporter = HeadlessReporter(
        expected, io.StringIO(), log_path="run.jsonl", echo_output=not passed_through
    )
    reporter.handle(events)
    reporter.finish()
    # (The summary goes to sys.stdout: the script's own, given back by then.)
    printed = expected.getvalue().splitlines(keepends=True)
    assert session.terminal_out.getvalue() == "".join(printed[:-1])
