"""The Alarms tab and the header's alarm badge, on a recorded run and on hand-fed
events. The expected numbers are read from the recording itself."""

from __future__ import annotations

import io

from event_stream import EventStream, load_events
from rich.console import Console
from textual.widgets import Static, TabbedContent
from tui_helpers import StandInLiveSource, header_text, replayed, running, wait_until

from kmon.engine.alarms.advice import ADVICE
from kmon.engine.events import Alarm, Probes
from kmon.engine.format import format_value
from kmon.engine.log.sources import RecordedSource
from kmon.engine.probes import ProbeConfig
from kmon.tui.app import MonitorApp
from kmon.tui.screens.help import KEYS
from kmon.tui.widgets.alarm_pane import NO_ALARMS, render_alarms

SIZE = (100, 40)


def pane_text(app: MonitorApp) -> str:
    """What the pane shows, as plain text, wrapped at the pane's width."""
    console = Console(width=96, file=io.StringIO(), color_system=None)
    console.print(app.query_one("#alarm-body", Static).content)
    return console.file.getvalue()



def flat(text: str) -> str:
    return " ".join(text.split())


async def test_recorded_run_shows_active_alarms_with_evidence_causes_fixes_and_history():
    events = load_events("alarms")
    alarms = [e for e in events if e.type == "alarm"]
    active = {(e.kind, e.subject) for e in alarms if e.state == "raised"} - {
        (e.kind, e.subject) for e in alarms if e.state == "cleared"
    }
    assert active == {("unscaled_data", None), ("prediction_variance", "dense")}

    app = MonitorApp(RecordedSource(events))
    async with running(app, SIZE) as pilot:
        await wait_until(pilot, lambda: app.state.finished)
        assert "⚠ 2 alarms (a)" in header_text(app)
        await pilot.press("a")
        assert app.query_one(TabbedContent).active == "alarms-tab"
        await pilot.pause()
        text = flat(pane_text(app))
        assert text.startswith("⚠ 2 active alarms")
        collapse = next(e for e in alarms if e.kind == "prediction_variance")
        assert "● prediction_variance · dense — predictions barely vary" in text
        assert flat(collapse.message) in text
        assert f"ratio {format_value(collapse.evidence['ratio'])}" in text
        assert f"target std {format_value(collapse.evidence['target_std'])}" in text
        for fix in ADVICE["prediction_variance"].fixes + ADVICE["unscaled_data"].fixes:
            assert flat(fix) in text
        # Active alarms first, then the history, newest first.
        history = text.split("History, newest first", 1)[1]
        assert history.index("cleared vanishing_gradients") < history.index(
            "raised vanishing_gradients"
        )
        assert "raised unscaled_data (start of fit 0)" in history
        assert "raised prediction_variance dense (epoch 1, step 8)" in history
        # The header badge is there whatever tab is shown.
        await pilot.press("l")
        assert "⚠ 2 alarms (a)" in header_text(app)


async def test_live_alarms_raise_and_clear_the_badge():
    source = StandInLiveSource()
    stream = EventStream(100.0).run_start(None, scenario="demo")
    stream.wait(0.5).fit_start(epochs=3, steps=10).wait(0.5).epoch_start().wait(1.0)
    stream.add(
        Alarm,
        kind="nan_loss",
        severity="error",
        message="the training loss is nan",
        evidence={"loss": float("nan")},
        epoch=0,
        step=4,
    )
    stream.wait(0.5).notice("alarms: prediction-variance check skipped for head out")

    app = MonitorApp(source)
    async with running(app, SIZE) as pilot:
        source.put(*stream.take())
        await wait_until(pilot, lambda: "⚠ 1 alarm (a)" in header_text(app))
        await pilot.press("a")
        await pilot.pause()
        text = flat(pane_text(app))
        assert "● nan_loss — the loss is NaN or Inf [error, since epoch 1, step 4]" in text
        assert "evidence: loss nan" in text
        assert "Notes · prediction-variance check skipped for head out" in text
        stream.wait(0.5)
        stream.add(Alarm, kind="nan_loss", state="cleared", message="finite again", epoch=1, step=0)
        source.put(*stream.take())
        await wait_until(pilot, lambda: "alarm" not in header_text(app))
        await pilot.pause()
        text = flat(pane_text(app))
        assert text.startswith(f"✔ {NO_ALARMS}")
        assert "+0:03 cleared nan_loss (epoch 2, step 0) finite again" in text
        assert "raised nan_loss (epoch 1, step 4)" in text


async def test_badge_stays_visible_in_a_narrow_terminal():
    events = load_events("alarms")

    async with replayed(events, (60, 20)) as (app, pilot):
        first_line = header_text(app).splitlines()[0]
        assert first_line.endswith("⚠ 2 alarms (a) ")
        assert len(first_line) <= 58


def test_help_lists_the_alarms_key():
    assert any(key == "a" and "Alarms" in what for key, what in KEYS)


def test_pane_renders_from_state_alone():
    from kmon.engine.view.state import RunState

    state = RunState()
    console = Console(width=80, file=io.StringIO(), color_system=None)
    console.print(render_alarms(state))
    assert console.file.getvalue().startswith(f"✔ {NO_ALARMS}")


async def test_the_checks_line_follows_what_the_run_says_it_checks():
    """Budget and probes from the run's own probes events, never a fixed text: the
    default budget, then a fit whose probe batch has no targets, then checks off."""
    config = ProbeConfig()
    share = f"{(config.budget + config.gradient_budget) * 100:.2g}%"
    assert share == "0.2%"
    source = StandInLiveSource()
    stream = EventStream(100.0, tick=0.1)

    def checks(app: MonitorApp) -> str:
        text = flat(pane_text(app))
        assert text.startswith(f"✔ {NO_ALARMS} ")
        return text.removeprefix(f"✔ {NO_ALARMS} ").split(" Notes ")[0]

    app = MonitorApp(source)
    async with running(app, SIZE) as pilot:
        await pilot.press("a")
        await pilot.pause()
        assert checks(app) == "kmon's checks start with fit(); what they are shows here then."
        stream.run_start().fit_start(epochs=3, steps=10)
        stream.add(
            Probes,
            fit=0,
            data=True,
            loss=True,
            predictions=True,
            gradients=True,
            probe_samples=256,
            budget=config.budget,
            gradient_budget=config.gradient_budget,
        )
        source.put(*stream.take())
        await wait_until(pilot, lambda: "probe" in pane_text(app))
        assert checks(app) == (
            "kmon checks the data when fit() started (scale, feature ranges, NaN/Inf), "
            "the spread of the model's predictions, its dead ReLU units, the classes it "
            "predicts and its gradients on a fixed batch of 256 probe samples while it "
            f"trains (within {share} of training time), the losses at each epoch's end "
            "(overfitting, no learning, unstable training) and the loss after every batch."
        )
        stream.fit_start(epochs=3, steps=10)
        stream.notice(
            "alarms: no targets in the probe batch: prediction and gradient probes are off"
        )
        stream.add(Probes, fit=1, data=True, loss=True, stop_on_nan=True)
        source.put(*stream.take())
        await wait_until(pilot, lambda: "Notes" in pane_text(app))
        assert checks(app) == (
            "kmon checks the data when fit() started (scale, feature ranges, NaN/Inf), "
            "the losses at each epoch's end (overfitting, no learning, unstable training) "
            "and the loss after every batch, and stops training if it is NaN or Inf. "
            "Predictions and gradients are not probed (see Notes)."
        )
        source.put(*stream.add(Probes, fit=2).fit_start(epochs=1, steps=10).take())
        await wait_until(pilot, lambda: "nothing" in pane_text(app))
        assert checks(app).startswith("kmon checks nothing in this fit")


async def test_alarms_that_came_while_another_tab_showed_are_laid_out_when_shown():
    """Hidden, the pane is not drawn (a refresh off the screen costs Textual a new
    map of every widget at the next frame, and a layout pass the whole screen
    again); shown, it is current and its text takes its whole height."""
    events = load_events("alarms")
    app = MonitorApp(RecordedSource(events))
    async with running(app, SIZE) as pilot:
        await wait_until(pilot, lambda: app.state.finished)
        await pilot.pause()
        body = app.query_one("#alarm-body", Static)
        assert not pane_text(app).startswith("⚠")  # not drawn while hidden
        await pilot.press("a")
        assert pane_text(app).startswith("⚠ 2 active alarms")
        await pilot.pause()
        rows = len(pane_text(app).rstrip("\n").splitlines())
        assert rows > 20 and body.size.height >= rows - 2  # wrapped at 96 vs the pane's
