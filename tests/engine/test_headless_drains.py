"""The headless loop (engine/headless/loop.py) drains a training run's batches at
most every ``BATCH_DRAIN_SECONDS``, so each drain folds one long block, and news (an
epoch's end, the script's output) at the first wake after it: no epoch line later
than when it drained every ``DRAIN_SECONDS``. The run is a script of timed events
put into a real channel as the loop's waits move a clock."""

from __future__ import annotations

import io
from types import SimpleNamespace

from event_stream import EventStream

from kmon.engine.events import Event, Log
from kmon.engine.headless import loop
from kmon.engine.headless.reporter import HeadlessReporter
from kmon.engine.run.channel import MonitorChannel

T0 = 1_800_000_000.0


class _ScriptedSession:
    """A started session whose run puts ``events`` into a real channel when the
    clock (moved by the loop's waits) reaches their times, and ends after them."""

    def __init__(self, events: list[Event]) -> None:
        self.now = 0.0
        self.pending = list(events)
        self.channel = MonitorChannel()
        self.terminal_out, self.terminal_err = io.StringIO(), io.StringIO()
        self.log_path = "run.jsonl"
        self.finished, self.exit_code, self.dropped = False, 0, 0
        self.drains: list[tuple[float, list[str]]] = []
        self.output_through = None  # the script's lines come as log events here

    @property
    def last_news(self) -> int:
        return self.channel.last_news

    @property
    def drained_through(self) -> int:
        return self.channel.drained_through

    def terminal_fds(self) -> list[int]:
        return []

    def wait(self, timeout: float) -> bool:
        self.now += timeout
        while self.pending and self.pending[0].t - T0 <= self.now:
            self.channel.put(self.pending.pop(0))
        self.finished = not self.pending
        return self.finished

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


def test_batches_drain_twice_a_second_and_news_at_the_next_wake(monkeypatch):
    events = _run()
    session = _ScriptedSession(events)
    monkeypatch.setattr(loop, "time", SimpleNamespace(monotonic=lambda: session.now))
    monkeypatch.setattr(loop, "_freeze_what_is_alive", lambda: True)
    assert loop.follow_headless(session) == 0
    wakes = [now for now, _ in session.drains]
    only_batches = [now for now, types in session.drains if types and set(types) == {"batch"}]
    assert only_batches, session.drains
    for now in only_batches:
        before = max(wake for wake in wakes if wake < now)
        assert now - before >= loop.BATCH_DRAIN_SECONDS - 1e-9, session.drains
    news = [event for event in events if event.type in ("log", "epoch_end", "fit_start")]
    for event in news:
        put = event.t - T0
        drained = min(wake for wake in wakes if wake >= put)
        assert drained - put <= loop.DRAIN_SECONDS + 1e-9, (event, session.drains)
    # 1.8 s of batches: 3-4 drains of theirs (twice a second, not ten times), and
    # one for each piece of news.
    assert len(session.drains) <= 1.8 / 0.5 + len(news) + 2
    expected = io.StringIO()
    reporter = HeadlessReporter(expected, io.StringIO(), log_path="run.jsonl")
    reporter.handle(events)
    reporter.finish()
    # (The summary goes to sys.stdout: the script's own, given back by then.)
    printed = expected.getvalue().splitlines(keepends=True)
    assert session.terminal_out.getvalue() == "".join(printed[:-1])
