"""Runs a target (:mod:`kmon.engine.run.targets`) in a background thread and reports
its run as events, from ``run_start`` to ``run_end`` with the script's own traceback."""

from __future__ import annotations

import contextlib
import os
import threading
import traceback
from collections.abc import Callable, Iterator

from kmon.engine.errors import RefusedRun
from kmon.engine.events import NO_FIT_TOPIC, THREADS_TOPIC, Event, Notice, RunEnd, ScriptStart
from kmon.engine.phases import NO_TRAINING_NOTE, no_fit_note, no_fit_seconds_from
from kmon.engine.run.bare_thread import start_bare_thread
from kmon.engine.run.keras_import import after_keras_import, script_chooses_backend
from kmon.engine.run.script_signals import ScriptSignals
from kmon.engine.run.script_threads import ScriptThreads, names, number_threads_afresh
from kmon.engine.run.targets import CallableTarget, ModuleTarget, ScriptTarget
from kmon.engine.stop import (
    AFTER_BATCH,
    BEFORE_START,
    CUT_THREADS,
    INTERRUPT,
    LATER_FITS,
    StopSignal,
)

#: The name of the thread the script runs on.
TRAINING_THREAD = "kmon-training"
#: Threads of the script that end within this long after its code returns are
#: waited for without a notice (a save that takes a moment).
QUIET_THREADS_SECONDS = 0.5


class TrainingRun:
    """One run of a target in a daemon thread, reported as events.

    Emits ``run_start`` first and ``run_end`` last, whatever happens in between.

    Args:
        target: what to run.
        emit: receives every event (must not block).
        quiet_keras: silence Keras's own progress bar (the monitor shows progress).
        gate: the script starts only once this is set (keras is imported before),
            so a monitor can finish taking over the terminal first.
        before_end: called just before ``run_end`` is emitted (e.g. to let output
            capture hand over the script's last lines first).
        after_end: called once :attr:`finished` is set (e.g. to wake a front end
            that sleeps until news comes).
        evaluate_training_data: evaluate on the training data at each epoch end.
        stop_on_nan: stop training when the loss becomes NaN or Inf.
        no_fit_seconds: after this long running with no ``fit()`` call, a notice
            says what that means (0 or less: never; None:
            :func:`~kmon.engine.phases.no_fit_seconds_from` the environment).
        batch_tapes: ship batch ends as tapes the sinks recover (see
            :class:`~kmon.engine.run.fit_hook.FitHook`); ``emit`` must reach only
            sinks that expand them.
        fit_emit: receives the fits' events instead of ``emit`` (which a fit's own
            never need: the bus's own, without a wrapper that watches for ``run_end``).
    """

    def __init__(
        self,
        target: ScriptTarget | ModuleTarget | CallableTarget,
        emit: Callable[[Event], None],
        *,
        quiet_keras: bool = True,
        gate: threading.Event | None = None,
        before_end: Callable[[], None] | None = None,
        after_end: Callable[[], None] | None = None,
        evaluate_training_data: bool = False,
        stop_on_nan: bool = False,
        no_fit_seconds: float | None = None,
        batch_tapes: bool = False,
        fit_emit: Callable[[Event], None] | None = None,
    ) -> None:
        self.target = target
        self._batch_tapes = batch_tapes
        self._emit = emit
        self._fit_emit = fit_emit or emit
        self._quiet_keras = quiet_keras
        self._gate = gate
        self._before_end = before_end
        self._after_end = after_end
        self._evaluate_training_data = evaluate_training_data
        self._stop_on_nan = stop_on_nan
        self.stop_signal = StopSignal()
        self.finished = threading.Event()
        self.status: str | None = None
        self.exit_code: int | None = None
        self.error: dict[str, str] | None = None
        self._no_fit_seconds = no_fit_seconds_from() if no_fit_seconds is None else no_fit_seconds
        self._hook = None
        self._hook_wanted = True
        """Until the run ends: a post-import hook left registered does nothing after."""
        self._no_fit_timer: threading.Timer | None = None
        self._signals: ScriptSignals | None = None
        """The script's signal forwarding while it runs: it can interrupt it."""
        self._interrupted = False
        self._script_started = False
        self.stop_action: str | None = None
        """What the first stop request did (:mod:`kmon.engine.stop`); None before."""
        self._awaiting_threads = False
        """The script's code has returned; its threads are waited for."""
        self._threads: ScriptThreads | None = None
        """The watch on the threads the script starts, once it starts."""
        self._stop_waiting = threading.Event()
        self.threads_cut_off: list = []
        """The script's threads (and child processes) a stop gave up on: they run on."""

    def start(self) -> None:
        # Not a threading.Thread: its frames would sit under the script's (see
        # bare_thread). finished tells when it ends.
        start_bare_thread(self._main, TRAINING_THREAD)

    def request_stop(self) -> str:
        """Stop the run as far as kmon can, and return what that does (see
        :data:`~kmon.engine.stop.STOP_EFFECTS`): a running ``fit()`` ends after the
        current batch; between fits, later ``fit()`` calls return at once; before
        any ``fit()`` the script is interrupted with ``KeyboardInterrupt`` (once),
        or, if it has not started yet, never runs; once the script's code has
        returned, the threads it left running are given up (after a fit one of
        them runs, at the second stop). Safe from a signal handler.
        """
        again = self.stop_signal.requested
        self.stop_signal.request()
        hook = self._hook
        if hook is not None and hook.in_fit and not (again and self._awaiting_threads):
            action = AFTER_BATCH
        elif self._awaiting_threads:
            action = CUT_THREADS
            self._stop_waiting.set()
        elif hook is not None and hook.fits:
            action = LATER_FITS
        else:
            action = self._interrupt()
        if self.stop_action is None:
            self.stop_action = action
        return action

    def _interrupt(self) -> str:
        """KeyboardInterrupt in the script, or none at all if it has not started."""
        first = not self._interrupted
        # Raised before _signals is read, as _main sets _signals before it reads
        # this: whatever the order, the script is interrupted or never starts.
        self._interrupted = True
        signals = self._signals
        if first and signals is not None:
            signals.interrupt()
        return INTERRUPT if self._script_started else BEFORE_START

    @property
    def awaiting_threads(self) -> bool:
        """The script's code has returned and its threads are waited for (a second
        stop then gives them up even while one of them is in a fit)."""
        return self._awaiting_threads and not self.finished.is_set()

    @property
    def stop_requested(self) -> bool:
        return self.stop_signal.requested

    @property
    def fits(self) -> int:
        """``fit()`` calls seen so far."""
        return self._hook.fits if self._hook is not None else 0

    def join(self, timeout: float | None = None) -> bool:
        return self.finished.wait(timeout)

    def _main(self) -> None:
        # The script's frames sit on this one (its thread's first but one: see
        # bare_thread), and TensorFlow walks the whole stack at every eager op,
        # reading each frame's line from its code's start (see FitHook.monitor_fit):
        # so this frame is short, and calls the script early.
        raised: BaseException | None = None
        try:
            with self._script_starts():
                self.target.execute(then=self._wait_for_threads)
        except BaseException as exc:  # noqa: BLE001 - the user's script may raise anything
            raised = exc
        self._end(raised)

    @contextlib.contextmanager
    def _script_starts(self) -> Iterator[None]:
        """The hook installed, the script's signal handling on for the ``with`` body,
        which runs the script; KeyboardInterrupt if a stop came first."""
        self._emit(self.target.run_start())
        if script_chooses_backend(getattr(self.target, "path", None)):
            after_keras_import(self._install_hook)  # at the script's own import
        else:
            self._install_hook()
        if self._gate is not None:
            self._gate.wait(10.0)
        with ScriptSignals() as signals:
            # Set before the check: a stop from now on interrupts the script,
            # one before it means the script never runs.
            self._signals = signals
            self._script_started = True
            if self._interrupted:
                raise KeyboardInterrupt
            self._emit(ScriptStart())
            self._watch_for_fit()
            self._threads = ScriptThreads()
            number_threads_afresh()
            yield

    def _wait_for_threads(self, raised: BaseException | None) -> None:
        """Wait for the threads the script left running, as Python does before a
        process exits (:mod:`~kmon.engine.run.script_threads`): called by the
        target after the script's code (which ``raised``, or not), with its
        ``__main__``, ``sys.argv``, signal handling and the fit hook all still on,
        as a thread may read them or train. A stop gives them up
        (:data:`~kmon.engine.stop.CUT_THREADS`)."""
        threads = self._threads
        if threads is None:
            return
        self._awaiting_threads = True
        try:
            running = threads.wait(self._stop_waiting, QUIET_THREADS_SECONDS)
            if running and not self._stop_waiting.is_set():
                self._emit(_waiting_notice(running, raised))
                running = threads.wait(self._stop_waiting)
        except BaseException:  # noqa: BLE001 - a script's signal handler's, during the wait
            running = threads.running()
        if running:
            self.threads_cut_off = running
            self._emit(
                Notice(
                    level="warning",
                    text=f"kmon stopped waiting for the script's threads ({names(running)}): "
                    "they were given up, as Ctrl+C at exit does under plain python, and what "
                    "they had not written yet is lost",
                    topic=THREADS_TOPIC,
                )
            )
        else:
            threads.forget()

    def _end(self, raised: BaseException | None) -> None:
        """The run's end, after the script returned or ``raised``."""
        status, exit_code, error, fits = "ok", 0, None, 0
        if isinstance(raised, SystemExit):
            exit_code = _exit_code(raised)
            if exit_code:
                status = "failed"
                if isinstance(raised.code, str):
                    error = {"message": raised.code, "traceback": ""}
        elif isinstance(raised, KeyboardInterrupt):
            status, exit_code = "stopped", 130
        elif isinstance(raised, RefusedRun):
            status, exit_code = "failed", 2
            error = {"message": str(raised), "traceback": ""}
        elif raised is not None:
            status, exit_code = "failed", 1
            error = {
                "message": f"{type(raised).__name__}: {raised}",
                "traceback": _user_traceback(raised),
            }
        del raised  # its traceback holds the script's frames
        self._signals = None
        self._hook_wanted = False
        hook = self._hook
        if self._no_fit_timer is not None:
            self._no_fit_timer.cancel()
        if hook is not None:
            hook.uninstall()
            fits = hook.fits
        # Threads given up leave the script's exit code, as a Ctrl+C in Python's wait
        # at exit does (it prints the KeyboardInterrupt as ignored and exits 0).
        if status == "ok" and (self.stop_signal.requested or self.threads_cut_off):
            status = "stopped"
        self.status, self.exit_code, self.error = status, exit_code, error
        if self._before_end is not None:
            self._before_end()
        if fits == 0 and status == "ok":
            self._emit(Notice(level="warning", text=NO_TRAINING_NOTE))
        self._emit(RunEnd(status=status, exit_code=exit_code, error=error, fits=fits))
        self.finished.set()
        if self._after_end is not None:
            self._after_end()

    def _install_hook(self) -> None:
        """kmon's fit hook on Keras (see :mod:`~kmon.engine.run.keras_import` for
        when): on this thread, which pays for importing Keras."""
        if not self._hook_wanted or self._hook is not None:
            return  # the run is over (a hook left registered), or it is installed
        from kmon.engine.run.fit_hook import FitHook

        hook = FitHook(
            self._fit_emit,
            self.stop_signal,
            quiet_keras=self._quiet_keras,
            evaluate_training_data=self._evaluate_training_data,
            stop_on_nan=self._stop_on_nan,
            batch_tapes=self._batch_tapes,
        )
        hook.install()
        self._hook = hook

    def _watch_for_fit(self) -> None:
        """Say so if the script runs ``no_fit_seconds`` without calling ``fit()``."""
        if self._no_fit_seconds > 0:
            timer = threading.Timer(self._no_fit_seconds, self._note_no_fit)
            timer.daemon = True
            self._no_fit_timer = timer
            timer.start()

    def _note_no_fit(self) -> None:
        hook = self._hook
        if hook is not None and hook.fits == 0 and self._signals is not None:
            self._emit(
                Notice(level="warning", text=no_fit_note(self._no_fit_seconds), topic=NO_FIT_TOPIC)
            )


def _waiting_notice(running: list, raised: BaseException | None) -> Notice:
    """The notice that kmon waits for the script's threads. Python prints a
    script's traceback before it waits: so the error is said at once, not only
    once the threads end (which a forgotten thread never does)."""
    waits = (
        f"kmon waits for the threads it left running ({names(running)}), as Python does "
        "before a process exits; a stop gives them up"
    )
    if raised is None or (isinstance(raised, SystemExit) and not _exit_code(raised)):
        return Notice(
            level="info", text=f"the script's code has returned; {waits}", topic=THREADS_TOPIC
        )
    if isinstance(raised, SystemExit):
        what = f"called sys.exit({raised.code!r})"
    else:
        what = f"raised {type(raised).__name__}: {raised}"
    return Notice(
        level="warning",
        text=f"the script {what} (its traceback comes with the run's end); {waits}",
        topic=THREADS_TOPIC,
    )


def _exit_code(exc: SystemExit) -> int:
    code = exc.code
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    return 1


def _user_traceback(exc: BaseException) -> str:
    """The script's traceback without kmon's frames: the ones on top
    (the script was run from here) and kmon's ``fit()`` wrapper in the middle. When
    the exception was raised inside kmon, its frames stay: that is kmon's bug."""
    report = traceback.TracebackException.from_exception(exc)
    _drop_own_frames(report, set())
    return "".join(report.format())


def _drop_own_frames(report: traceback.TracebackException, seen: set[int]) -> None:
    if id(report) in seen:  # exception chains may loop
        return
    seen.add(id(report))
    frames = list(report.stack)
    if frames and not _own_frame(frames[-1]):
        frames = [frame for frame in frames if not _own_frame(frame)]
    else:
        while frames and _own_frame(frames[0]):
            frames.pop(0)
    report.stack = traceback.StackSummary.from_list(frames)
    for chained in (report.__cause__, report.__context__):
        if chained is not None:
            _drop_own_frames(chained, seen)


#: The whole engine package (this file is in its run/ subpackage): frames from any
#: of its modules are kmon's own, not the script's.
_ENGINE = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


def _own_frame(frame: traceback.FrameSummary) -> bool:
    """A frame of kmon's engine. kmon runs the script's code itself, so a runpy
    frame is the script's own (it ran something through runpy)."""
    return os.path.abspath(frame.filename).startswith(_ENGINE)
