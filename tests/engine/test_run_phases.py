"""What a run says and what a stop does before, between and during fits: the
no-fit notice while a script runs without fit(), and a stop's effect in each phase
(TrainingRun in this interpreter, targets that train for real or loop on their own)."""

from __future__ import annotations

import threading
import time

from kmon.engine.events import NO_FIT_TOPIC, Notice, ScriptStart
from kmon.engine.phases import (
    NO_FIT_SECONDS,
    NO_FIT_SECONDS_VARIABLE,
    no_fit_note,
    no_fit_seconds_from,
)
from kmon.engine.run.runner import TrainingRun
from kmon.engine.run.targets import CallableTarget
from kmon.engine.stop import AFTER_BATCH, BEFORE_START, INTERRUPT, LATER_FITS
from kmon.engine.view.state import RunState

RUN_TIMEOUT = 60.0


def _start(function, **options) -> tuple[TrainingRun, list]:
    events: list = []
    run = TrainingRun(CallableTarget("phases", function), events.append, **options)
    run.start()
    return run, events


def _wait_for(condition, timeout: float = RUN_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {condition}"
        time.sleep(0.01)


def _no_fit_notices(events) -> list[Notice]:
    return [e for e in events if isinstance(e, Notice) and e.topic == NO_FIT_TOPIC]


def _tiny_model():
    import keras
    import numpy as np

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    return model, np.zeros((16, 2), "float32")


def _tiny_fit(model_and_data=None, **fit_options):
    model, x = model_and_data or _tiny_model()
    return model.fit(x, x[:, :1], batch_size=8, epochs=2, **fit_options)


def test_a_script_running_without_fit_is_told_so_while_it_runs():
    release = threading.Event()

    def custom_loop():
        # A loop of its own (no fit()), until the test has seen the notice.
        while not release.wait(0.01):
            sum(range(100))

    run, events = _start(custom_loop, no_fit_seconds=0.2)
    try:
        _wait_for(lambda: _no_fit_notices(events))
    finally:
        release.set()
    assert run.join(RUN_TIMEOUT)
    (notice,) = _no_fit_notices(events)
    assert notice.level == "warning"
    assert notice.text == no_fit_note(0.2)
    # It says what it knows: no fit() yet; a script loading data is not called a loop.
    assert notice.text.startswith("no fit() seen after 0.2 s of the script running")
    assert "custom training loop" in notice.text and "is not monitored" in notice.text
    assert "still preparing its data is monitored from its first fit() on" in notice.text
    (started,) = [e for e in events if isinstance(e, ScriptStart)]
    assert notice.t - started.t >= 0.2
    # While the script ran, before its end; the state shows it.
    assert events.index(notice) < len(events) - 2
    state = RunState()
    state.apply_all(events[: events.index(notice) + 1])
    assert state.phase == "running script" and state.no_fit_notice == notice


def test_no_fit_notice_once_a_fit_has_started():
    ready = _tiny_model()  # built beforehand: the script's first call is fit()

    def fits_then_works_on():
        _tiny_fit(ready)
        time.sleep(1.0)

    run, events = _start(fits_then_works_on, no_fit_seconds=0.5)
    assert run.join(RUN_TIMEOUT)
    assert any(e.type == "fit_start" for e in events)
    assert _no_fit_notices(events) == []


def test_the_no_fit_delay_is_read_from_the_environment():
    assert no_fit_seconds_from({}) == NO_FIT_SECONDS
    assert 30 <= NO_FIT_SECONDS <= 60
    assert no_fit_seconds_from({NO_FIT_SECONDS_VARIABLE: "2.5"}) == 2.5
    assert no_fit_seconds_from({NO_FIT_SECONDS_VARIABLE: "0"}) == 0  # never
    assert no_fit_seconds_from({NO_FIT_SECONDS_VARIABLE: "soon"}) == NO_FIT_SECONDS
    assert no_fit_seconds_from({NO_FIT_SECONDS_VARIABLE: "nan"}) == NO_FIT_SECONDS


def test_a_stop_before_any_fit_interrupts_the_script_once():
    seen = {"interrupts": 0}
    release = threading.Event()

    def custom_loop():
        for _ in range(2):
            try:
                while not release.is_set():
                    time.sleep(0.005)
            except KeyboardInterrupt:
                seen["interrupts"] += 1
        raise KeyboardInterrupt  # as a script that ends on Ctrl+C does

    run, events = _start(custom_loop, no_fit_seconds=0)
    _wait_for(lambda: any(isinstance(e, ScriptStart) for e in events))
    assert run.request_stop() == INTERRUPT
    _wait_for(lambda: seen["interrupts"] == 1)
    # A second request (SIGTERM, then the monitor's own) interrupts no more.
    assert run.request_stop() == INTERRUPT
    time.sleep(0.1)
    release.set()
    assert run.join(RUN_TIMEOUT)
    assert seen["interrupts"] == 1
    assert run.stop_action == INTERRUPT
    assert (events[-1].status, events[-1].exit_code) == ("stopped", 130)


def test_a_stop_before_the_script_starts_means_it_never_runs():
    ran = []
    gate = threading.Event()
    events: list = []
    run = TrainingRun(CallableTarget("never", lambda: ran.append(1)), events.append, gate=gate)
    run.start()
    assert run.request_stop() == BEFORE_START
    gate.set()
    assert run.join(RUN_TIMEOUT)
    assert ran == []
    assert not any(isinstance(e, ScriptStart) for e in events)
    assert (events[-1].status, events[-1].exit_code) == ("stopped", 130)


def test_a_stop_in_a_fit_ends_it_and_between_fits_interrupts_nothing():
    import keras

    holder: dict = {}
    between = threading.Event()
    answered = threading.Event()

    class StopHere(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            holder["in_fit"] = holder["run"].request_stop()

    def two_fits_with_work_between():
        _tiny_fit()
        between.set()
        answered.wait(RUN_TIMEOUT)  # the script's own work between fits, not interrupted
        holder["between_done"] = True
        holder["second"] = _tiny_fit(callbacks=[StopHere()])
        holder["after"] = True

    events: list = []
    run = TrainingRun(CallableTarget("two", two_fits_with_work_between), events.append)
    holder["run"] = run
    run.start()
    assert between.wait(RUN_TIMEOUT)
    assert run.request_stop() == LATER_FITS
    answered.set()
    assert run.join(RUN_TIMEOUT)
    assert holder.get("between_done") and holder.get("after")
    # The second fit() returned at once: its callbacks never ran.
    assert "in_fit" not in holder
    assert [e.type for e in events].count("fit_start") == 1
    assert (events[-1].status, events[-1].exit_code) == ("stopped", 0)

    # In a fit, the stop is the graceful one.
    events.clear()
    holder.clear()

    def one_fit():
        holder["second"] = _tiny_fit(callbacks=[StopHere()])

    run = TrainingRun(CallableTarget("one", one_fit), events.append)
    holder["run"] = run
    run.start()
    assert run.join(RUN_TIMEOUT)
    assert holder["in_fit"] == AFTER_BATCH
    assert [e.step for e in events if e.type == "batch"] == [0]
    assert (events[-1].status, events[-1].exit_code) == ("stopped", 0)


def test_fit_start_names_the_callbacks_that_can_end_a_fit_early():
    import keras

    class Patient(keras.callbacks.EarlyStopping):
        pass

    def three_fits():
        _tiny_fit(callbacks=[keras.callbacks.ReduceLROnPlateau(), Patient(patience=9)])
        _tiny_fit(callbacks=keras.callbacks.TerminateOnNaN())  # one callback, not a list
        _tiny_fit(callbacks=[keras.callbacks.ReduceLROnPlateau()])

    run, events = _start(three_fits, no_fit_seconds=0)
    assert run.join(RUN_TIMEOUT)
    starts = [e for e in events if e.type == "fit_start"]
    # ReduceLROnPlateau only lowers the learning rate: it never ends a fit.
    assert [s.early_stopping for s in starts] == [["Patient"], ["TerminateOnNaN"], []]
