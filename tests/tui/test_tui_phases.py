"""The header and the Quit dialog through a run's phases: importing TensorFlow,
running the script (with no fit() yet, then the no-fit notice), training, between
fits, finished. Real MonitorApps driven by Pilot on hand-fed live events."""

from __future__ import annotations

from event_stream import EventStream
from textual.widgets import Label
from tui_helpers import StandInLiveSource, running, wait_until

from kmon.engine.events import (
    NO_FIT_TOPIC,
    Event,
    Log,
    Notice,
    RunEnd,
    RunStart,
    ScriptStart,
)
from kmon.engine.phases import no_fit_note
from kmon.tui.app import MonitorApp
from kmon.tui.attach_app import AttachedMonitorApp
from kmon.tui.screens.confirm_quit import ConfirmQuit
from kmon.tui.widgets.run_header import RunHeader

WIDE = (120, 24)


class Clock:
    """The monitor's wall clock, moved by the test."""

    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def _fit(epochs: int, t: float, **start) -> list[Event]:
    """A fit started at ``t`` of ``epochs`` epochs of 4 steps, one step a second,
    ended; ``start``: more of its fit_start's fields."""
    stream = EventStream(t).fit_start(epochs=epochs, steps=4, **start)
    for _ in range(epochs):
        stream.epoch_start()
        for _ in range(4):
            stream.wait(1.0).batch({"loss": 1.0})
        stream.epoch_end()
    return stream.fit_end().events


def _lines(app: MonitorApp) -> list[str]:
    return app.query_one(RunHeader).text.splitlines()


async def _shown(pilot, app, *events, line: int, text: str) -> list[str]:
    app.source.put(*events)
    await wait_until(pilot, lambda: text in _lines(app)[line])
    return _lines(app)


async def test_the_header_follows_the_run_through_each_phase():
    source, clock = StandInLiveSource(), Clock()

    app = MonitorApp(source, clock=clock)
    async with running(app, WIDE) as pilot:
        first, second = await _shown(
            pilot, app, RunStart(script="/x/train.py", t=100.0), line=0, text="kmon train.py"
        )
        assert "● starting (importing TensorFlow…)" in first
        assert "the script starts once kmon has imported TensorFlow" in second

        # The script runs: its own lines are not "importing TensorFlow" any more.
        first, second = await _shown(
            pilot,
            app,
            ScriptStart(t=104.0),
            Log(text="loading data", t=104.5),
            line=0,
            text="● running script",
        )
        assert "importing" not in first and "training" not in first
        assert "no fit() yet: progress shows once the script calls fit()" in second

        clock.t = 150.0
        first, second = await _shown(
            pilot,
            app,
            Notice(level="warning", text=no_fit_note(45), topic=NO_FIT_TOPIC, t=149.0),
            line=1,
            text="no fit() seen yet: custom training loops are not monitored",
        )
        assert "● running script" in first
        assert second.endswith("elapsed 0:50")

        # A fit after all (the data took long to load): training, with both ETAs.
        first_fit = _fit(2, t=150.0)
        mid_epoch = first_fit[:5]  # fit_start, epoch_start, 3 of 4 batches
        first, second = await _shown(pilot, app, *mid_epoch, line=0, text="● training")
        assert "fit 0 · epoch 1/2 of this fit" in first
        assert "no fit()" not in second
        # One step a second: 1 step left of this epoch, 5 of the fit.
        assert " 3/4 " in second
        assert "epoch ETA 0:01 · fit ETA 0:05" in second

        first, second = await _shown(pilot, app, *first_fit[5:], line=0, text="● between fits")
        assert "ETA" not in second

        # The next fit has EarlyStopping: its ETA is only an upper bound.
        second_fit = _fit(3, t=160.0, fit=1, early_stopping=["EarlyStopping"])
        first, second = await _shown(
            pilot, app, *second_fit[:4], line=0, text="fit 1 (2 so far)"
        )
        assert "fit 1 (2 so far) · epoch 1/3 of this fit · 2 epochs done" in first
        assert "epoch ETA 0:02 · fit ETA ≤0:10" in second

        # The second fit's last epoch is not the run's end: never a bare "3/3".
        first, second = await _shown(
            pilot, app, *second_fit[4:-1], line=0, text="epoch 3/3 of this fit"
        )
        assert "5 epochs done" in first

        source.running = False
        first, second = await _shown(
            pilot, app, second_fit[-1], RunEnd(status="ok", fits=2), line=0, text="✔ finished"
        )
        assert "ETA" not in second


def _dialog(app) -> tuple[str, str]:
    screen = app.screen
    assert isinstance(screen, ConfirmQuit)
    return (
        str(screen.query_one("#question", Label).content),
        str(screen.query_one("#detail", Label).content),
    )


async def test_an_open_quit_dialog_follows_the_run():
    """Opened before the script's first fit(), the dialog says the script would be
    interrupted; once a fit starts while it is open, it says training stops after the
    batch, as the engine would then do (seen in a real terminal: the old text stayed)."""
    source = StandInLiveSource()

    app = MonitorApp(source)
    async with running(app, WIDE) as pilot:
        await _shown(
            pilot,
            app,
            RunStart(script="/x/s.py", t=1.0),
            ScriptStart(t=2.0),
            line=0,
            text="running script",
        )
        await pilot.press("q")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmQuit))
        assert _dialog(app)[0] == "Interrupt the script and quit?"
        source.put(*_fit(1, t=3.0)[:4])
        await wait_until(pilot, lambda: _dialog(app)[0] == "Stop training and quit?")
        assert _dialog(app)[1].startswith("Training stops after the current batch")


async def test_the_quit_dialog_offers_only_what_a_stop_can_do():
    source = StandInLiveSource()

    async def ask(pilot, app) -> tuple[str, str]:
        await pilot.press("q")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmQuit))
        question, detail = _dialog(app)
        await pilot.press("n")
        await wait_until(pilot, lambda: not isinstance(app.screen, ConfirmQuit))
        return question, detail

    app = MonitorApp(source)
    async with running(app, WIDE) as pilot:
        await _shown(pilot, app, RunStart(script="/x/loop.py", t=1.0), line=0, text="starting")
        question, detail = await ask(pilot, app)
        assert question == "Quit before the script starts?"
        assert "it will not run" in detail

        # No fit() yet (a custom loop never reads model.stop_training).
        await _shown(pilot, app, ScriptStart(t=2.0), line=0, text="running script")
        question, detail = await ask(pilot, app)
        assert question == "Interrupt the script and quit?"
        assert "no batch to stop after" in detail
        assert "KeyboardInterrupt raised in it, as Ctrl+C does under plain python" in detail
        assert "stop_training" not in detail

        fit = _fit(1, t=3.0)
        await _shown(pilot, app, *fit[:4], line=0, text="● training")
        question, detail = await ask(pilot, app)
        assert question == "Stop training and quit?"
        assert detail.startswith("Training stops after the current batch (model.stop_training)")

        await _shown(pilot, app, *fit[4:], line=0, text="between fits")
        question, detail = await ask(pilot, app)
        assert question == "Stop the run and quit?"
        assert "nothing is interrupted: later fit() calls return at once" in detail
        assert "the script runs on to its end" in detail
        assert source.stop_requests == 0

        await pilot.press("q")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmQuit))
        await pilot.press("y")
        await wait_until(pilot, lambda: "stopping…" in _lines(app)[0])
        assert source.stop_requests == 1


async def test_attached_x_says_what_stopping_a_run_without_fit_does():
    source = StandInLiveSource()

    app = AttachedMonitorApp(source)
    async with running(app, WIDE) as pilot:
        await _shown(
            pilot,
            app,
            RunStart(script="/x/loop.py", t=1.0),
            ScriptStart(t=2.0),
            line=0,
            text="running script",
        )
        await pilot.press("x")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmQuit))
        question, detail = _dialog(app)
        assert question == "Stop this run?"
        assert detail.startswith("No fit() has run yet")
        assert "KeyboardInterrupt" in detail and "SIGTERM" in detail
        assert detail.endswith("The monitor stays attached.")
        await pilot.press("n")
