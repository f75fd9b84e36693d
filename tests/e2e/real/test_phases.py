"""What the run is doing, said as it happens: a custom training loop (no fit()) is
told apart from training, and a fit with EarlyStopping gets its ETAs labelled."""

from __future__ import annotations

import re

from tui_helpers import running, wait_until

from kmon.engine.events import NO_FIT_TOPIC
from kmon.engine.format import format_duration
from kmon.engine.log.sources import RecordedSource
from kmon.engine.phases import NO_FIT_SECONDS_VARIABLE, no_fit_note
from kmon.engine.view.state import RunState
from kmon.tui.app import MonitorApp
from kmon.tui.widgets.run_header import RunHeader

#: Short enough for the corpus script's own run time (about a second after its start).
NO_FIT_SECONDS = "0.3"


def _custom_loop(real_run):
    return real_run("custom_loop.py", env={NO_FIT_SECONDS_VARIABLE: NO_FIT_SECONDS})


def test_a_custom_loop_is_told_while_it_runs_that_no_fit_was_seen(real_run):
    run = _custom_loop(real_run)
    assert run.returncode == 0, run.stderr
    types = [event.type for event in run.events]
    # kmon imports TensorFlow, then the script runs: before any line of its own.
    first_line = next(i for i, e in enumerate(run.events) if e.type == "log" and "epoch" in e.text)
    assert types.index("run_start") < types.index("script_start") < first_line
    assert "fit_start" not in types

    (notice,) = [e for e in run.of_type("notice") if e.topic == NO_FIT_TOPIC]
    assert notice.level == "warning"
    assert notice.text == no_fit_note(float(NO_FIT_SECONDS))
    # While the script still ran: its last lines came after.
    texts = [e.text for e in run.of_type("log")]
    last_line = max(i for i, e in enumerate(run.events) if e.type == "log")
    assert run.events.index(notice) < last_line
    assert texts[-1].startswith("Time taken")

    # Headless said it among the script's lines, at that moment.
    out = run.stdout.splitlines()
    said = out.index(f"[kmon] warning: {notice.text}")
    assert said < out.index(texts[-1])

    # The header's phase, folded from the log as replay and attach fold it.
    state = RunState()
    for event in run.events[: run.events.index(notice) + 1]:
        state.apply(event)
        assert state.phase in ("starting", "running script")
    assert state.phase == "running script" and state.no_fit_notice == notice
    assert run.state.phase == "finished" and run.state.no_fit_notice == notice


async def test_a_fit_with_early_stopping_shows_an_epoch_eta_and_a_fit_eta_bound(real_run):
    run = real_run("timeseries_early_stopping.py")
    assert run.returncode == 0, run.stderr
    (start,) = run.of_type("fit_start")
    # EarlyStopping may end the fit sooner; ModelCheckpoint and ReduceLROnPlateau
    # (which only lowers the learning rate) never set model.stop_training.
    assert start.early_stopping == ["EarlyStopping"]
    assert start.steps == 8

    # The monitor as it was in the middle of the second epoch.
    batches = [i for i, e in enumerate(run.events) if e.type == "batch" and e.epoch == 1]
    so_far = run.events[: batches[3] + 1]
    state = RunState()
    state.apply_all(so_far)
    epoch_eta, fit_eta = state.epoch_eta_seconds(), state.fit_eta_seconds()
    assert 0 < epoch_eta < fit_eta

    app = MonitorApp(RecordedSource(so_far))
    async with running(app, (120, 24)) as pilot:
        await wait_until(pilot, lambda: app.state.batches == state.batches)
        await pilot.pause()
        first, second = app.query_one(RunHeader).text.splitlines()
    assert "fit 0 · epoch 2/3 of this fit" in first and "● training" in first
    assert " 4/8 " in second
    etas = f"epoch ETA {format_duration(epoch_eta)} · fit ETA ≤{format_duration(fit_eta)}"
    assert etas in second
    assert re.search(r"epoch ETA \d+:\d\d · fit ETA ≤\d+:\d\d", second)
