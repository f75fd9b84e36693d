"""Running a scenario's variant in-process for the claim tests: as `kmon run NAME
--variant V --headless` would, failures included (an "as written" variant fails on
purpose), with Keras's own output captured where the variant keeps it."""

from __future__ import annotations

import time

from scenario_helpers import ScenarioRun

from kmon.engine.log.eventlog import read_events
from kmon.engine.run.session import Session
from kmon.engine.run.targets import CallableTarget
from kmon.engine.view.state import RunState
from kmon.scenarios import find


def run_variant(folder, name: str, variant: str) -> ScenarioRun:
    """Run ``name``/``variant`` to its end and read its log back."""
    scenario, variant = find(name, variant)
    keras_output = variant in scenario.keras_output
    log = folder / f"{name}-{variant}.jsonl"
    started = time.monotonic()
    session = Session(
        CallableTarget.for_scenario(scenario, variant),
        log,
        quiet_keras=not keras_output,
        # Claims about the console read what Keras printed: capture it into the log.
        capture=keras_output,
        evaluate_training_data=scenario.evaluate_training_data,
    )
    session.start()
    assert session.wait(120), "scenario did not finish"
    session.close()
    seconds = time.monotonic() - started
    events, report = read_events(log)
    assert report.skipped == 0
    state = RunState()
    state.apply_all(events)
    return ScenarioRun(events, state, seconds, session.status)
