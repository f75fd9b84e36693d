"""The monitor on a live run fed by hand, driven through Textual's Pilot: the header
repaints only the line that changed, and quitting asks, then stops the run
gracefully, or abandons one that does not stop."""

from __future__ import annotations

import gc
import time
from contextlib import asynccontextmanager

from event_stream import EventStream
from textual.geometry import Region
from textual.widgets import Label
from tui_helpers import StandInLiveSource, header_text, running, wait_until

from kmon.tui.app import MonitorApp
from kmon.tui.frame_budget import FrameBudget
from kmon.tui.scenario_app import ScenarioMonitorApp
from kmon.tui.screens.confirm_quit import ConfirmQuit
from kmon.tui.widgets.epoch_chart import EpochChart
from kmon.tui.widgets.run_header import RunHeader

SIZE = (80, 24)


def _training() -> EventStream:
    """A live run (wall-clock times) 4 batches into the first of 3 epochs of 10 steps."""
    stream = EventStream(None).run_start("/somewhere/train.py").fit_start(epochs=3, steps=10)
    stream.epoch_start()
    for step in range(4):
        stream.batch({"loss": 1.0 / (step + 1)}, {"loss": 1.0}, size=8)
    return stream.log("hello from the script")


@asynccontextmanager
async def _live_app(monkeypatch=None):
    """A live monitor on :func:`_training`'s run, its 4 batches folded: ``(app,
    pilot, source, stream)``. With ``monkeypatch``, the periodic frame is held off
    (a frame just drawn, the next an hour away, whatever the frame budget)."""
    source = StandInLiveSource()
    stream = _training()
    source.put(*stream.take())
    app = MonitorApp(source)
    async with running(app, SIZE) as pilot:
        await wait_until(pilot, lambda: app.state.batches == 4)
        await pilot.pause()
        if monkeypatch is not None:
            monkeypatch.setattr("kmon.tui.app.FRAME_SECONDS", 3600.0)
            monkeypatch.setattr("kmon.tui.app.FRAME_MAX_SECONDS", 3600.0)
            app._frame_at = time.monotonic()
        yield app, pilot, source, stream


async def test_the_header_repaints_only_the_line_that_changed():
    async with _live_app() as (app, pilot, source, stream):
        header = app.query_one(RunHeader)

        def painted() -> list[str]:
            # Through Textual's own line cache, which a partial refresh must mark.
            region = Region(0, 0, header.size.width, 2)
            return [strip.text for strip in header.render_lines(region)]

        title, progress = painted()
        assert "kmon train.py" in title and " 4/10 " in progress
        title_strip = header._strips[0]

        for _ in range(3):
            stream.batch({"loss": 0.1}, {"loss": 0.1}, size=8)
        source.put(*stream.take())
        # The progress line redraws at most every FRAME_SECONDS while training.
        await wait_until(pilot, lambda: " 7/10 " in painted()[1])
        assert painted()[0] == title
        assert header._strips[0] is title_strip  # not rendered again

        source.put(*stream.epoch_end().epoch_start().take())
        await wait_until(pilot, lambda: "epoch 2/3" in painted()[0])


async def test_while_training_news_waits_for_the_next_frame_with_the_progress_line(monkeypatch):
    """While a live run trains, a frame comes at most every FRAME_SECONDS (each
    costs the training thread GIL time), and news (a new epoch) waits for it as the
    progress line does: drawn at once, epochs of about a second set the frames'
    clock to their starts, and the progress line read each epoch's step 0."""
    async with _live_app(monkeypatch) as (app, pilot, source, stream):
        for _ in range(3):
            stream.batch({"loss": 0.1}, {"loss": 0.1}, size=8)
        source.put(*stream.epoch_end().epoch_start().take())
        for _ in range(5):  # ticks come every 0.1 s; the next frame is an hour away
            await pilot.pause(0.1)
        assert "epoch 1/3" in header_text(app)
        assert " 4/10 " in header_text(app).splitlines()[1]
        assert app.state.batches == 4  # not even drained

        app._frame_at -= 3600.0  # the frame is due
        await wait_until(pilot, lambda: "epoch 2/3" in header_text(app))
        assert " 0/10 " in header_text(app).splitlines()[1]
        assert app.state.batches == 7  # every batch, in order


async def test_quit_while_running_asks_then_stops_gracefully():
    async with _live_app() as (app, pilot, source, stream):
        assert "● training" in header_text(app)
        assert "kmon train.py" in header_text(app)

        # q asks first; "n" keeps training.
        await pilot.press("q")
        assert isinstance(app.screen, ConfirmQuit)
        assert str(app.screen.query_one("#question", Label).content) == ("Stop training and quit?")
        await pilot.press("n")
        assert not isinstance(app.screen, ConfirmQuit)
        assert source.stop_requests == 0
        assert not app.stopping
        assert app.return_value is None

        # q, y: stop requested, the app waits for the run to end.
        await pilot.press("q")
        assert isinstance(app.screen, ConfirmQuit)
        await pilot.press("y")
        assert not isinstance(app.screen, ConfirmQuit)
        assert source.stop_requests == 1
        assert app.stopping
        await wait_until(pilot, lambda: "stopping…" in header_text(app))
        await pilot.pause(0.25)
        assert app.return_value is None

        # Training keeps reporting until the run really ends.
        source.put(*stream.batch({"loss": 0.2}, {"loss": 0.2}, size=8).take())
        await wait_until(pilot, lambda: app.state.batches == 5)
        assert app.return_value is None

        source.running = False
        source.put(*stream.run_end("stopped").take())
        await wait_until(pilot, lambda: app.return_value is not None)
    assert app.return_value == "done"
    assert source.stop_requests == 1


async def test_quit_twice_abandons_a_run_that_does_not_stop():
    source = StandInLiveSource()
    source.put(*_training())

    app = MonitorApp(source)
    async with running(app, SIZE) as pilot:
        await wait_until(pilot, lambda: app.state.batches == 4)
        await pilot.press("q", "y")
        assert source.stop_requests == 1
        await wait_until(pilot, lambda: "stopping…" in header_text(app))

        # Still running: a second q asks whether to quit without waiting.
        await pilot.press("q")
        assert isinstance(app.screen, ConfirmQuit)
        assert str(app.screen.query_one("#question", Label).content) == (
            "Quit now, without waiting?"
        )
        await pilot.press("n")
        assert app.return_value is None
        await pilot.press("q")
        await pilot.press("y")
        await wait_until(pilot, lambda: app.return_value is not None)
    assert app.return_value == "abandon"
    assert source.stop_requests == 1


async def test_q_after_the_live_run_ended_exits_without_asking():
    source = StandInLiveSource()
    source.put(*_training().run_end())

    app = MonitorApp(source)
    async with running(app, SIZE) as pilot:
        await wait_until(pilot, lambda: app.state.finished)
        source.running = False
        await pilot.press("q")
        assert not isinstance(app.screen, ConfirmQuit)
        await wait_until(pilot, lambda: app.return_value is not None)
    assert app.return_value == "done"
    assert source.stop_requests == 0


async def test_between_frames_batches_alone_neither_build_the_header_nor_touch_the_output(
    monkeypatch,
):
    """Building the header's lines costs the UI thread ~0.2 ms: between two frames a
    tick asks for neither it nor the output pane. Batches, output and news are not
    even drained: they wait in the channel for the next frame, which asks the output
    pane only when there is output."""
    async with _live_app(monkeypatch) as (app, pilot, source, stream):
        header, output = app.query_one(RunHeader), app.query_one("#log")
        calls = {"header": 0, "output": 0, "drain": 0}
        shown_header, shown_output, drain = header.show, output.show, source.drain
        monkeypatch.setattr(
            source,
            "drain",
            lambda: calls.__setitem__("drain", calls["drain"] + 1) or drain(),
        )
        monkeypatch.setattr(
            header,
            "show",
            lambda *a, **k: (
                calls.__setitem__("header", calls["header"] + 1) or shown_header(*a, **k)
            ),
        )
        monkeypatch.setattr(
            output,
            "show",
            lambda *a, **k: (
                calls.__setitem__("output", calls["output"] + 1) or shown_output(*a, **k)
            ),
        )
        for _ in range(3):
            stream.batch({"loss": 0.1}, {"loss": 0.1}, size=8)
        source.put(*stream.take())
        for _ in range(3):  # ticks come every 0.1 s
            await pilot.pause(0.1)
        assert calls == {"header": 0, "output": 0, "drain": 0}

        source.put(*stream.log("more output").epoch_end().epoch_start().take())
        for _ in range(3):
            await pilot.pause(0.1)
        assert calls == {"header": 0, "output": 0, "drain": 0}

        app._frame_at -= 3600.0  # the frame is due
        await wait_until(pilot, lambda: "epoch 2/3" in header_text(app))
        assert calls["header"] >= 1 and calls["output"] >= 1 and calls["drain"] >= 1
        assert app.state.batches == 7


async def test_a_costly_epoch_chart_redraws_within_its_share_of_a_core(monkeypatch):
    """While a live run trains, the epoch chart waits the cost of the last frame that
    drew it, paint included, over CHART_SHARE (up to EPOCH_PANELS_MAX_SECONDS) before
    drawing new epochs: plotext and the paint hold the GIL the training thread
    needs. The header shows each epoch at once. A chart's frame is paid apart: the
    frame budget of the header and the panels is not charged with it."""
    monkeypatch.setattr("kmon.tui.app.EPOCH_PANELS_SECONDS", 0.0)
    async with _live_app() as (app, pilot, source, stream):
        chart = app.query_one(EpochChart)
        spent: list[float] = []
        spend = app._frame_budget.spend
        monkeypatch.setattr(app._frame_budget, "spend", lambda cpu: spent.append(cpu) or spend(cpu))
        source.put(*stream.epoch_end().epoch_start().take())
        # Measured at the tick after the frame that drew it, once it was painted.
        await wait_until(pilot, lambda: chart._epochs_drawn == 1 and app._chart_frame_cpu > 0)
        chart_cpu = app._chart_frame_cpu
        assert chart_cpu not in spent
        await wait_until(pilot, lambda: len(spent) >= 1)  # the frames after it are paid
        assert all(cpu > 0 for cpu in spent)

        app._chart_frame_cpu = 1.0  # at 0.05% of a core: 2,000 s, so the 60 s cap
        source.put(*stream.epoch_end().epoch_start().take())
        await wait_until(pilot, lambda: "epoch 3/3" in header_text(app))
        for _ in range(3):  # frames come every second at most
            await pilot.pause(0.5)
        assert chart._epochs_drawn == 1

        app._chart_frame_cpu = 0.0  # a cheap chart: drawn at the next frame
        await wait_until(pilot, lambda: chart._epochs_drawn == 2)


async def test_while_training_a_frame_waits_for_credit_but_never_past_frame_max_seconds(
    monkeypatch,
):
    """A frame's CPU is paid from the frame budget (FRAME_SHARE of a core): with none
    left, the frame due waits, and the batch panels too, but a frame still comes
    FRAME_MAX_SECONDS after the last, so the progress line never stops."""
    monkeypatch.setattr("kmon.tui.app.FRAME_MAX_SECONDS", 1.5)
    panels_at: list[float] = []
    async with _live_app() as (app, pilot, source, stream):
        show_panels = app._show_batch_panels
        monkeypatch.setattr(
            app,
            "_show_batch_panels",
            lambda **kwargs: panels_at.append(time.monotonic()) or show_panels(**kwargs),
        )
        app._frame_budget = FrameBudget(share=0.001, burst=0.02, longest_wait=1000.0)
        app._frame_budget.spend(1.0)  # owed: 1,000 s of earning
        app._frame_at = start = time.monotonic()
        for _ in range(3):
            stream.batch({"loss": 0.1}, {"loss": 0.1}, size=8)
        source.put(*stream.take())
        await wait_until(pilot, lambda: " 7/10 " in header_text(app).splitlines()[1])
        waited = time.monotonic() - start
        # Half a tick early is on time; a loaded machine may tick late.
        assert waited >= 1.5 - 0.06, waited
        assert not [t for t in panels_at if t > start]  # no credit, not 10 s yet


async def test_a_scenario_s_monitor_is_not_rationed(monkeypatch):
    """A bundled scenario's short run is there to be watched: its frames come every
    FRAME_SECONDS whatever the frame budget."""
    assert ScenarioMonitorApp.RATIONED is False and MonitorApp.RATIONED is True
    monkeypatch.setattr("kmon.tui.app.FRAME_MAX_SECONDS", 3600.0)
    monkeypatch.setattr(MonitorApp, "RATIONED", False)
    async with _live_app() as (app, pilot, source, stream):
        app._frame_budget = FrameBudget(share=0.001, burst=0.02, longest_wait=1000.0)
        app._frame_budget.spend(1.0)  # no credit for 1,000 s
        app._frame_at = start = time.monotonic()
        for _ in range(3):
            stream.batch({"loss": 0.1}, {"loss": 0.1}, size=8)
        source.put(*stream.take())
        await wait_until(pilot, lambda: " 7/10 " in header_text(app).splitlines()[1])
        assert time.monotonic() - start < 3.0


async def test_between_frames_the_ticks_sleep_until_the_next_frame_may_be_due(monkeypatch):
    """An idle tick costs a live monitor's UI thread ~0.1 ms on a training thread's
    cold caches: between frames the ticker sleeps up to IDLE_TICK_SECONDS, not a
    tenth of a second."""
    async with _live_app(monkeypatch) as (app, pilot, source, stream):
        checks: list[float] = []
        between = app._between_frames
        monkeypatch.setattr(
            app, "_between_frames", lambda: checks.append(time.monotonic()) or between()
        )
        await pilot.pause(0.1)  # the ticker's next call may be at the usual interval
        checks.clear()
        await pilot.pause(2.0)
        # 4 ticks at 0.5 s (one more for a late one), where 10 Hz makes 20.
        assert 2 <= len(checks) <= 5, checks
        assert min(b - a for a, b in zip(checks, checks[1:])) >= 0.4


async def test_a_live_run_s_first_fit_takes_what_is_alive_out_of_the_collector():
    """A full collection over TensorFlow's and Keras's objects costs ~0.2 s of CPU;
    what is alive as the first fit starts is frozen out of it (``gc.freeze``)."""
    source = StandInLiveSource()
    source.put(*EventStream(None).run_start("/somewhere/train.py").take())
    app = MonitorApp(source)
    async with running(app, SIZE) as pilot:
        await wait_until(pilot, lambda: app.state.started is not None)
        assert gc.get_freeze_count() == 0  # no fit yet
        source.put(*_training().take())
        await wait_until(pilot, lambda: gc.get_freeze_count() > 0)


async def test_the_first_epoch_is_drawn_as_it_ends_whatever_drew_before(monkeypatch):
    """The epoch panels' draws while training wait EPOCH_PANELS_SECONDS from the
    last one that drew epochs: the run's first frames (no epoch yet) start no wait,
    so the first epoch's chart, learning rate and explanation come as it ends."""
    monkeypatch.setattr("kmon.tui.app.EPOCH_PANELS_SECONDS", 3600.0)
    async with _live_app() as (app, pilot, source, stream):
        chart = app.query_one(EpochChart)
        await pilot.pause(0.3)  # frames drawn, with the empty chart
        assert chart._epochs_drawn == 0
        source.put(*stream.epoch_end().epoch_start().take())
        await wait_until(pilot, lambda: chart._epochs_drawn == 1)

        source.put(*stream.epoch_end().epoch_start().take())  # the wait holds now
        await wait_until(pilot, lambda: "epoch 3/3" in header_text(app))
        for _ in range(3):
            await pilot.pause(0.3)
        assert chart._epochs_drawn == 1


async def test_while_training_the_progress_line_is_drawn_each_second_and_the_panels_every_two(
    monkeypatch,
):
    """A fit streaming batches gets a progress line (steps, rate, ETAs) each second
    and batch panels every 2 s at most, not at every tick: a frame holds the GIL the
    training thread needs (FRAME_SECONDS and BATCH_PANELS_SECONDS; at 0.5 s and 1 s
    the UI thread cost a 1,000-steps-a-second fit 15-19 µs a step, at 1 s and 2 s
    9-10). The frame budget is left ample here: the next test rations it."""
    monkeypatch.setattr("kmon.tui.app.FRAME_SHARE", 1.0)
    stream = EventStream(None).run_start("/somewhere/train.py").fit_start(epochs=1, steps=1000)
    stream.epoch_start()
    source = StandInLiveSource()
    source.put(*stream.take())
    app = MonitorApp(source)
    panels_at: list[float] = []
    show_panels = app._show_batch_panels

    def recorded(**kwargs) -> None:
        panels_at.append(time.monotonic())
        show_panels(**kwargs)

    app._show_batch_panels = recorded
    async with running(app, SIZE) as pilot:
        await wait_until(pilot, lambda: "epoch 1/1" in header_text(app))
        progress_at: list[float] = []
        shown = header_text(app).splitlines()[1]
        start = time.monotonic()
        while time.monotonic() - start < 4.6:
            stream.batch({"loss": 0.5}, {"loss": 0.5}, size=8)
            source.put(*stream.take())
            await pilot.pause(0.05)
            line = header_text(app).splitlines()[1]
            if line != shown:
                shown = line
                progress_at.append(time.monotonic())
    assert len(progress_at) >= 3, progress_at
    # A tick may come half a tick early (Ticker's jitter), and this loop's polls
    # see a frame up to 0.05 s late.
    assert min(b - a for a, b in zip(progress_at, progress_at[1:])) >= 0.85
    drawn = [t for t in panels_at if t > start]
    assert len(drawn) >= 2, drawn
    assert min(b - a for a, b in zip(drawn, drawn[1:])) >= 1.9


async def test_a_followed_log_is_read_at_every_tick_while_its_run_trains():
    """A source that reads a log a chunk a drain (``kmon attach``: not buffered) is
    drained at every tick, not at the frames a run in this process waits for: a long
    log's history comes in 4 MiB chunks, and at one a frame it would take minutes."""

    class Chunks:
        live, buffered, dropped, running = True, False, 0, True

        def __init__(self) -> None:
            self.drains = 0
            self.waiting = _training().take()

        def drain(self):
            self.drains += 1
            events, self.waiting = self.waiting[:1], self.waiting[1:]
            return events

        def request_stop(self) -> None:
            pass

    source = Chunks()
    app = MonitorApp(source)
    async with running(app, SIZE) as pilot:
        # One event a drain (the run's start, its fit, its epoch, 4 batches, a log):
        # within 3 s, where a drain at each frame would take 8.
        await wait_until(pilot, lambda: not source.waiting, timeout=3.0)
        assert app.state.batches == 4 and source.drains >= 8
