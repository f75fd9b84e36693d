"""Alarms once raised: how they fold into the run state, the headless output's lines
and summary, and ``--stop-on-nan`` reaching the training run."""

from __future__ import annotations

import dataclasses
import io

import pytest
from model_events import fit, models_run

from kmon.engine.alarms.messages import alarm_line
from kmon.engine.events import Alarm, EpochStart, FitStart, RunStart
from kmon.engine.headless.reporter import HeadlessReporter
from kmon.engine.view.state import RunState

# -- state and headless ----------------------------------------------------------------------


def test_state_keeps_active_alarms_and_history():
    state = RunState()
    raised = Alarm(kind="prediction_variance", subject="out", message="m", t=1.0)
    other = Alarm(kind="nan_loss", severity="error", message="n", t=2.0)
    cleared = Alarm(kind="prediction_variance", subject="out", state="cleared", t=3.0)
    state.apply_all([raised, other])
    assert list(state.alarms) == [("prediction_variance", "out"), ("nan_loss", None)]
    state.apply(cleared)
    assert list(state.alarms) == [("nan_loss", None)]
    assert list(state.alarm_history) == [raised, other, cleared]


def test_headless_prints_one_line_per_alarm_and_the_active_ones_at_the_end():
    out = io.StringIO()
    reporter = HeadlessReporter(out, io.StringIO())
    reporter.handle(
        [
            RunStart(scenario="s", t=0.0),
            FitStart(fit=0, epochs=2, steps=10, t=1.0),
            Alarm(kind="unscaled_data", message="data is not standardized", t=1.1),
            EpochStart(fit=0, epoch=0, t=1.2),
            Alarm(kind="prediction_variance", subject="out", message="same", epoch=0, step=4),
            Alarm(
                kind="prediction_variance",
                subject="out",
                state="cleared",
                message="ok",
                epoch=0,
                step=8,
            ),
        ]
    )
    reporter.finish()
    lines = out.getvalue().splitlines()
    assert (
        "[kmon] alarm raised: unscaled_data [warning] (fit start): data is not standardized"
        in lines
    )
    assert "[kmon] alarm raised: prediction_variance out [warning] (epoch 1, step 4): same" in lines
    assert "[kmon] alarm cleared: prediction_variance out (epoch 1, step 8): ok" in lines
    assert "1 alarm active: unscaled_data" in lines[-1]


def test_an_ended_alarm_leaves_the_active_ones_and_stays_in_the_history():
    raised = Alarm(kind="unscaled_data", message="raw pixels", fit=0, t=1.0)
    ended = dataclasses.replace(
        raised, state="ended", message="fit 1 trains another model (b)", t=2.0
    )
    state = RunState()
    state.apply_all([raised, ended])
    assert state.alarms == {}
    assert list(state.alarm_history) == [raised, ended]


def test_the_headless_summary_says_which_alarms_ended_with_their_model():
    stream = models_run()
    fit(stream, "a", model_index=0)
    stream.add(Alarm, kind="unscaled_data", message="raw pixels", fit=0)
    stream.add(
        Alarm,
        kind="unscaled_data",
        state="ended",
        message="fit 1 trains another model (b)",
        evidence={"next_fit": 1, "next_model": "b"},
        fit=0,
    )
    fit(stream, "b", model_index=1)
    stream.run_end()
    out = io.StringIO()
    reporter = HeadlessReporter(out, io.StringIO())
    reporter.handle(stream.events)
    reporter.finish()
    lines = out.getvalue().splitlines()
    assert "[kmon] alarm ended: unscaled_data (with fit 0): fit 1 trains another model (b)" in lines
    assert "ended with their model: unscaled_data (fit 0)" in lines[-1]
    assert "active" not in lines[-1]


def test_alarm_line_without_state():
    event = Alarm(kind="nan_loss", severity="error", message="loss is nan", epoch=2, step=3)
    assert alarm_line(event, 3) == "alarm raised: nan_loss [error] (epoch 3, step 3): loss is nan"


# -- the command line ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["train", "--stop-on-nan", "script.py", "--lr", "1"],
        ["run", "some_scenario", "--stop-on-nan"],
    ],
)
def test_stop_on_nan_reaches_the_training_run(argv, tmp_path):
    from kmon.cli import build_parser
    from kmon.commands.launch import open_session
    from kmon.engine.run.targets import CallableTarget

    args = build_parser().parse_args(argv)
    assert args.stop_on_nan
    args.log = str(tmp_path / "run.jsonl")
    session = open_session(
        CallableTarget("noop", lambda: None), args, quiet_keras=True, evaluate_training_data=False
    )
    try:
        assert session.run._stop_on_nan is True
    finally:
        session.close()
    assert not build_parser().parse_args(["run", "x"]).stop_on_nan
