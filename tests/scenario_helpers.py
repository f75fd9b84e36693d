"""Running a bundled scenario in-process, as `kmon run NAME --headless` would, for tests."""

from __future__ import annotations

import time
from dataclasses import dataclass

from kmon.engine.log.eventlog import read_events
from kmon.engine.run.session import Session
from kmon.engine.run.targets import CallableTarget
from kmon.engine.view.state import RunState
from kmon.scenarios import find


@dataclass
class ScenarioRun:
    events: list
    state: RunState
    seconds: float
    status: str


def run_scenario(folder, name: str, variant: str, **session_options) -> ScenarioRun:
    """Run ``name``/``variant`` to the end (output not captured); read its log back.

    ``session_options`` go to :class:`~kmon.engine.run.session.Session`; the scenario's
    own ``evaluate_training_data`` is used unless given.
    """
    scenario, variant = find(name, variant)
    session_options.setdefault("evaluate_training_data", scenario.evaluate_training_data)
    log = folder / f"{name}-{variant}.jsonl"
    started = time.monotonic()
    session = Session(
        CallableTarget.for_scenario(scenario, variant), log, capture=False, **session_options
    )
    session.start()
    assert session.wait(120), "scenario did not finish"
    session.close()
    seconds = time.monotonic() - started
    assert session.status in ("ok", "stopped"), session.error
    events, report = read_events(log)
    assert report.skipped == 0
    state = RunState()
    state.apply_all(events)
    return ScenarioRun(events, state, seconds, session.status)
