"""The threads a script leaves running are waited for before ``run_end``, as Python
waits for them before a process exits; a stop gives them up."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from kmon.engine.events import THREADS_TOPIC, Notice, RunEnd
from kmon.engine.phases import BETWEEN_FITS, TRAINING, WAITING_FOR_THREADS
from kmon.engine.run import script_threads
from kmon.engine.run.runner import QUIET_THREADS_SECONDS, TrainingRun
from kmon.engine.run.targets import CallableTarget
from kmon.engine.stop import AFTER_BATCH, CUT_THREADS
from kmon.engine.view.state import RunState

RUN_TIMEOUT = 60.0


class Recorder:
    """The run's events, and what ``seen`` held when ``run_end`` came."""

    def __init__(self) -> None:
        self.events: list = []
        self.seen: list[str] = []
        self.seen_at_end: list[str] | None = None
        self.waiting = threading.Event()

    def __call__(self, event) -> None:
        if isinstance(event, RunEnd):
            self.seen_at_end = list(self.seen)
        if isinstance(event, Notice) and event.topic == THREADS_TOPIC:
            self.waiting.set()
        self.events.append(event)

    def threads_notices(self) -> list[Notice]:
        return [e for e in self.events if isinstance(e, Notice) and e.topic == THREADS_TOPIC]


def _start(script, recorder: Recorder) -> TrainingRun:
    run = TrainingRun(CallableTarget("threads", script), recorder, no_fit_seconds=0)
    run.start()
    return run


def test_a_thread_left_running_ends_before_run_end():
    recorder = Recorder()

    def save():
        time.sleep(QUIET_THREADS_SECONDS + 0.5)
        recorder.seen.append("saved")

    def script():
        threading.Thread(target=save, name="saver").start()

    run = _start(script, recorder)
    assert run.join(RUN_TIMEOUT)
    assert recorder.seen_at_end == ["saved"]
    assert (run.status, run.exit_code) == ("ok", 0)
    [notice] = recorder.threads_notices()
    assert notice.level == "info" and "(saver)" in notice.text


def test_a_quick_thread_is_waited_for_without_a_notice():
    recorder = Recorder()

    def script():
        threading.Thread(target=lambda: (time.sleep(0.05), recorder.seen.append("saved"))).start()

    run = _start(script, recorder)
    assert run.join(RUN_TIMEOUT)
    assert recorder.seen_at_end == ["saved"]
    assert recorder.threads_notices() == []


def test_the_scripts_threads_are_daemons_only_where_it_says_so():
    daemons = {}

    def script():
        daemons["script"] = threading.current_thread().daemon
        daemons["default"] = threading.Thread(target=print).daemon
        daemons["asked"] = threading.Thread(target=print, daemon=True).daemon

    run = _start(script, Recorder())
    assert run.join(RUN_TIMEOUT)
    assert daemons == {"script": False, "default": False, "asked": True}


def test_a_daemon_thread_is_not_waited_for():
    release = threading.Event()

    def script():
        threading.Thread(target=release.wait, name="heartbeat", daemon=True).start()

    recorder = Recorder()
    try:
        run = _start(script, recorder)
        assert run.join(QUIET_THREADS_SECONDS)
        assert run.status == "ok" and recorder.threads_notices() == []
        assert script_threads.left_running() == []
    finally:
        release.set()


def test_a_stop_gives_the_threads_up():
    release = threading.Event()
    recorder = Recorder()

    def script():
        threading.Thread(target=release.wait, name="forgotten").start()

    try:
        run = _start(script, recorder)
        assert recorder.waiting.wait(RUN_TIMEOUT)
        assert not run.join(0.3), "the run ended while its thread ran"
        assert run.request_stop() == CUT_THREADS
        assert run.join(5.0)
        # Plain python exits 0 when Ctrl+C interrupts its wait for the threads.
        assert (run.status, run.exit_code) == ("stopped", 0)
        assert [t.name for t in run.threads_cut_off] == ["forgotten"]
        assert [t.name for t in script_threads.left_running()] == ["forgotten"]
        waiting, gave_up = recorder.threads_notices()
        assert (waiting.level, gave_up.level) == ("info", "warning")
        assert "(forgotten)" in gave_up.text and "given up" in gave_up.text
    finally:
        release.set()
    deadline = time.monotonic() + 5
    while script_threads.left_running() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert script_threads.left_running() == []


def test_an_executor_left_open_runs_its_queued_work_then_ends():
    # Python's exit shuts executors down (their queued work runs); an idle worker
    # waited for as any thread would keep kmon waiting for ever.
    recorder = Recorder()

    def script():
        pool = ThreadPoolExecutor(1, thread_name_prefix="writer")
        pool.submit(time.sleep, 0.2)
        pool.submit(recorder.seen.append, "queued")

    run = _start(script, recorder)
    assert run.join(RUN_TIMEOUT)
    assert recorder.seen_at_end == ["queued"]
    assert run.status == "ok"
    assert not [t for t in threading.enumerate() if t.name.startswith("writer")]


def test_a_fit_in_a_thread_the_script_left_is_monitored():
    import keras
    import numpy as np

    recorder = Recorder()
    stop_actions = []

    class StopOnce(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 1 and not stop_actions:
                stop_actions.append(run.request_stop())

    def train():
        time.sleep(QUIET_THREADS_SECONDS + 0.2)  # after the wait's notice
        x = np.zeros((32, 2), "float32")
        model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        model.compile(optimizer="sgd", loss="mse")
        model.fit(x, x[:, :1], batch_size=4, epochs=2, verbose=0, callbacks=[StopOnce()])
        recorder.seen.append("trained")

    def script():
        threading.Thread(target=train, name="trainer").start()

    run = _start(script, recorder)
    assert run.join(RUN_TIMEOUT)
    # A stop during the thread's fit stops that fit, as in the script's own.
    assert stop_actions == [AFTER_BATCH]
    assert recorder.seen_at_end == ["trained"]
    assert [e.step for e in recorder.events if e.type == "batch"] == [0, 1]
    assert (run.status, run.fits) == ("stopped", 1)
    state = RunState()
    phases = []
    for event in recorder.events:
        state.apply(event)
        phases.append(state.phase)
    assert [phases[i] for i, e in enumerate(recorder.events) if e.type == "fit_start"] == [TRAINING]
    [fit_end] = [i for i, e in enumerate(recorder.events) if e.type == "fit_end"]
    assert phases[fit_end] == WAITING_FOR_THREADS
    assert BETWEEN_FITS not in phases


def test_a_monitor_says_a_stop_gives_the_threads_up():
    from kmon.engine.stop import STOP_EFFECTS, stop_action_for

    assert stop_action_for(WAITING_FOR_THREADS) == CUT_THREADS
    assert "gives them up" in STOP_EFFECTS[CUT_THREADS]


def test_a_script_that_raised_says_so_while_its_threads_are_waited_for():
    # Python prints the traceback before it waits; a forgotten thread would
    # otherwise keep the error out of sight for good.
    recorder = Recorder()

    def script():
        threading.Thread(
            target=time.sleep, args=(QUIET_THREADS_SECONDS + 0.3,), name="saver"
        ).start()
        raise ValueError("no labels in the data")

    run = _start(script, recorder)
    assert run.join(RUN_TIMEOUT)
    [notice] = recorder.threads_notices()
    assert notice.level == "warning"
    assert "raised ValueError: no labels in the data" in notice.text and "(saver)" in notice.text
    assert (run.status, run.exit_code) == ("failed", 1)


def test_a_second_stop_gives_the_threads_up_while_one_of_them_is_in_a_fit():
    # The first stop ends the thread's fit after its batch, gracefully; a thread
    # that never ends (a forgotten heartbeat) would then keep the run waiting, so
    # the second gives them all up, as one Ctrl+C in Python's wait does.
    import keras
    import numpy as np

    release = threading.Event()
    recorder = Recorder()
    actions = []

    class StopTwice(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 1:
                actions.append(run.request_stop())
                actions.append(run.request_stop())

    def train():
        time.sleep(QUIET_THREADS_SECONDS + 0.2)
        x = np.zeros((64, 2), "float32")
        model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        model.compile(optimizer="sgd", loss="mse")
        model.fit(x, x[:, :1], batch_size=4, epochs=3, verbose=0, callbacks=[StopTwice()])

    def script():
        threading.Thread(target=train, name="trainer").start()
        threading.Thread(target=release.wait, name="heartbeat").start()

    try:
        run = _start(script, recorder)
        assert run.join(RUN_TIMEOUT)
        assert actions == [AFTER_BATCH, CUT_THREADS]
        assert (run.status, run.exit_code) == ("stopped", 0)
        assert "heartbeat" in [t.name for t in run.threads_cut_off]
    finally:
        release.set()


def test_the_scripts_first_unnamed_thread_is_thread_1_as_in_a_fresh_python():
    seen = []

    def script():
        seen.append(threading.Thread(target=print).name)
        seen.append(threading.Timer(1, print).name)

    run = _start(script, Recorder())
    assert run.join(RUN_TIMEOUT)
    assert seen == ["Thread-1 (print)", "Thread-2"]
