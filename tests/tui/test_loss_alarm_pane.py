"""The Alarms tab and the headless lines show overfitting and unstable_training with the
numbers they were decided on, their causes and fixes. The alarms come from kmon's
own rules (EpochWatch fed epoch logs and running means), not hand-written events."""

from __future__ import annotations

import asyncio
import io
import random

from rich.console import Console
from textual.widgets import Static
from tui_helpers import StandInLiveSource, running, wait_until

from kmon.engine.alarms.advice import advice_for
from kmon.engine.alarms.book import AlarmBook
from kmon.engine.alarms.epoch_watch import EpochWatch
from kmon.engine.events import EpochEnd, EpochStart, FitStart, RunStart
from kmon.engine.format import format_value
from kmon.engine.headless.reporter import HeadlessReporter
from kmon.engine.view.state import RunState
from kmon.tui.app import MonitorApp
from kmon.tui.widgets.alarm_pane import render_alarms
from kmon.tui.widgets.run_header import RunHeader

HEADS = {
    "signal": {"loss": "mse", "loss_key": "signal_loss"},
    "coins": {"loss": "binary_crossentropy", "loss_key": "coins_loss"},
}
STEPS = 32


def flat(text: str) -> str:
    return " ".join(text.split())


def training_events() -> list:
    """Seven epochs of a two-head model: the coins head overfits from epoch 4 on,
    and in epoch 7 three batches spike while the epoch's loss rises."""
    events = [
        RunStart(script="/x/train.py", t=100.0),
        FitStart(fit=0, epochs=7, steps=STEPS, t=100.5),
    ]
    clock = [101.0]

    def emit(event):
        clock[0] += 0.01
        event.t = clock[0]
        events.append(event)

    watch = EpochWatch(AlarmBook(emit), 0, samples=STEPS * 32, batch_size=32)
    coins = [0.616, 0.617, 0.604, 0.621, 0.629, 0.652, 0.681]
    train = [0.67, 0.49, 0.41, 0.35, 0.30, 0.26, 0.40]
    rng = random.Random(0)
    for epoch, (val, loss) in enumerate(zip(coins, train)):
        clock[0] += 1.0
        events.append(EpochStart(fit=0, epoch=epoch, t=clock[0]))
        watch.epoch_begin()
        total = 0.0
        for step in range(STEPS):
            value = loss * (0.9 + 0.2 * rng.random())
            if epoch == 6 and step in (10, 12, 14):
                value = 30 * loss
            total += value
            watch.batch_end(step, total / (step + 1))
        logs = {"loss": 2 * loss, "signal_loss": loss, "coins_loss": loss}
        logs |= {"val_loss": 0.5 + val, "val_coins_loss": val}
        logs["val_signal_loss"] = 0.5 - 0.01 * epoch  # falls: that head is fine
        events.append(EpochEnd(fit=0, epoch=epoch, logs=logs, t=clock[0]))
        watch.epoch_end(epoch, logs, HEADS)
    return events


def alarms_of(events):
    return {e.kind: e for e in events if e.type == "alarm"}


def rendered(state: RunState) -> str:
    console = Console(width=96, file=io.StringIO(), color_system=None)
    console.print(render_alarms(state))
    return flat(console.file.getvalue())


def test_both_alarms_show_their_evidence_causes_and_fixes():
    events = training_events()
    alarms = alarms_of(events)
    overfit, unstable = alarms["overfitting"], alarms["unstable_training"]
    state = RunState()
    state.apply_all(events)
    text = rendered(state)
    assert text.startswith("⚠ 2 active alarms")
    title = "● overfitting · coins — the validation loss rises while the training loss falls"
    assert f"{title} [warning, since epoch 6]" in text
    assert flat(overfit.message) in text
    evidence = overfit.evidence
    assert (
        f"evidence: metric val_coins_loss · best {format_value(evidence['best'])} · best epoch 3 "
        f"· current {format_value(evidence['current'])} · rise {format_value(evidence['rise'])} "
        f"· tolerance {format_value(evidence['tolerance'])}"
    ) in text
    title = "● unstable_training — the training loss is unstable"
    assert f"{title} [warning, since epoch 7]" in text
    assert "evidence: cause spikes · spikes 3 · largest" in text
    assert f"previous epoch loss {format_value(unstable.evidence['previous_epoch_loss'])}" in text
    for alarm in (overfit, unstable):
        advice = advice_for(alarm.kind, alarm.evidence)
        for line in advice.causes + advice.fixes:
            assert flat(line) in text
    # A head's overfitting: the EarlyStopping fix watches that head's own loss.
    assert "EarlyStopping(monitor='val_coins_loss', mode='min'" in text
    assert "EarlyStopping(monitor='val_loss'" not in text
    history = text.split("History, newest first", 1)[1]
    assert "raised overfitting coins (epoch 6) head coins: val_coins_loss rose" in history
    assert "raised unstable_training (epoch 7) 3 batch losses spiked above 10x" in history


def test_headless_prints_one_line_each_at_its_epoch():
    out = io.StringIO()
    reporter = HeadlessReporter(out, io.StringIO())
    reporter.handle(training_events())
    reporter.finish()
    lines = [line for line in out.getvalue().splitlines() if "alarm raised" in line]
    assert len(lines) == 2
    assert "alarm raised: overfitting coins [warning] (epoch 6): head coins: val_coins" in lines[0]
    assert "alarm raised: unstable_training [warning] (epoch 7): 3 batch losses" in lines[1]
    assert all("step" not in line.split("):")[0] for line in lines)
    assert "2 alarms active: overfitting coins, unstable_training" in out.getvalue()


def test_live_badge_and_tab():
    source = StandInLiveSource()

    async def scenario():
        app = MonitorApp(source)
        async with running(app, (100, 40)) as pilot:
            source.put(*training_events())
            header = app.query_one(RunHeader)
            await wait_until(pilot, lambda: "⚠ 2 alarms (a)" in str(header.text))
            await pilot.press("a")
            await pilot.pause()
            console = Console(width=96, file=io.StringIO(), color_system=None)
            console.print(app.query_one("#alarm-body", Static).content)
            text = flat(console.file.getvalue())
            assert "● overfitting · coins" in text and "● unstable_training" in text

    asyncio.run(scenario())
