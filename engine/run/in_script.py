"""A run started from inside the user's own script (``from kmon import Monitor``):
the event log, probes, alarms, notifications and stop of ``kmon train``, with the
script itself as the run (no runner thread, no output capture, no monitor).

A process has at most one such run at a time: every ``fit()`` whose callbacks hold
a :class:`MonitorCallback` belongs to it, from the first ``Monitor()`` to
``close()`` or the process's exit, which writes ``run_end``.
"""

from __future__ import annotations

import atexit
import inspect
import math
import os
import signal
import sys
import threading
import traceback
from pathlib import Path

import keras

from kmon.engine.alarms.probe_config import ProbeConfig
from kmon.engine.errors import ScriptError
from kmon.engine.events import Event, Notice, RunEnd, RunStart, ScriptStart
from kmon.engine.log.run_files import DEFAULT_RUNS_DIR, LogFileExists, default_log_path
from kmon.engine.log.writer import EventLogWriter
from kmon.engine.run.bus import EventBus
from kmon.engine.run.fit_hook import FitHook
from kmon.engine.run.notify import CommandNotifier, check_notify_command
from kmon.engine.run.targets import ScriptTarget
from kmon.engine.stop import StopSignal
from kmon.engine.system.sampler import SystemSampler

#: Exit code a second SIGTERM ends the script with (128 + SIGTERM), as ``kmon train``.
SIGTERM_EXIT_CODE = 143

#: Why a fit() with a Monitor was not monitored.
UNMONITORED_FIT_NOTE = (
    "a fit() called with Monitor was not monitored: it was looked up before kmon.monitor "
    "was imported (`model.fit(..., callbacks=[kmon.Monitor()])` after a bare `import "
    "kmon`); import it first: `from kmon import Monitor`"
)

_lock = threading.Lock()
_current: InScriptRun | None = None


class MonitorCallback(keras.callbacks.Callback):
    """A Keras callback that puts the ``fit()`` it is given to into this process's
    in-script run (started by the first one made, joined by the others).

    Itself it does nothing per batch (``async_safe``): kmon's own callbacks, the
    ones ``kmon train`` adds, are added to each such ``fit()`` beside it.

    Args:
        log_dir: the runs folder for a new run's log (default ``./kmon-runs``, as
            ``kmon train``); ignored when joining a run.
        log_path: the log file itself (must not exist) instead of a new one in
            ``log_dir``.
        notify_cmd: a shell command to run for the run's end and each alarm
            raised, as ``kmon train --notify-cmd`` does.
        probes: watch each fit for training failures (the alarms); False: none.
        stop_on_nan: stop training when the loss becomes NaN or Inf.
        system_interval: seconds between ``system`` samples (CPU, memory, GPUs),
            as ``kmon train --system-interval``; 0 samples nothing.

    Raises:
        ValueError: ``notify_cmd``'s program is not found, or the log is refused.
        OSError: the log cannot be created.
    """

    def __init__(
        self,
        log_dir: str | os.PathLike | None = None,
        *,
        log_path: str | os.PathLike | None = None,
        notify_cmd: str | None = None,
        probes: bool = True,
        stop_on_nan: bool = False,
        system_interval: float = 1.0,
    ) -> None:
        super().__init__()
        self.async_safe = True
        self.run = start_or_join(
            log_dir=log_dir,
            log_path=log_path,
            notify_cmd=notify_cmd,
            probes=probes,
            stop_on_nan=stop_on_nan,
            system_interval=system_interval,
        )

    @property
    def log_path(self) -> Path | None:
        """The run's event log; None when ``kmon train`` monitors this script."""
        return self.run.log_path if self.run is not None else None

    def close(self) -> None:
        """End the run now (``run_end``), rather than at the process's exit. A later
        ``Monitor()`` starts a new run."""
        if self.run is not None:
            self.run.close()

    def on_train_begin(self, logs=None) -> None:
        run = self.run
        if run is not None and not run.closed and not run.hook.in_fit:
            run.note_unmonitored_fit()


def start_or_join(**options) -> InScriptRun | None:
    """This process's in-script run: the current one, or a new one made with
    ``options``. None when ``kmon train`` already monitors every fit."""
    global _current
    if _under_kmon_train:
        return None  # kmon train (or kmon run) runs this script: it monitors already
    with _lock:
        if _current is None or _current.closed:
            _current = InScriptRun(**options)
        return _current


class InScriptRun:
    """The run: its log, notifier and fit hook, a SIGTERM handler (``kmon stop``)
    and an exit handler that writes ``run_end``. See :class:`MonitorCallback` for
    the arguments."""

    def __init__(
        self,
        *,
        log_dir: str | os.PathLike | None,
        log_path: str | os.PathLike | None,
        notify_cmd: str | None,
        probes: bool,
        stop_on_nan: bool,
        system_interval: float,
    ) -> None:
        if not math.isfinite(system_interval) or system_interval < 0:
            raise ValueError(f"system_interval must be 0 (off) or seconds, not {system_interval}")
        if notify_cmd is not None:
            try:
                check_notify_command(notify_cmd)
            except ScriptError as exc:
                raise ValueError(str(exc)) from None
        self.writer = _open_log(log_path, log_dir or DEFAULT_RUNS_DIR, _run_name())
        self.log_path = self.writer.path
        self._bus = EventBus(self.writer)
        self.notifier = None
        if notify_cmd:
            self.notifier = CommandNotifier(notify_cmd, self._bus.emit, self.log_path)
            self._bus.add(self.notifier)
        self.stop = StopSignal()
        self.closed = False
        self._error: BaseException | None = None
        self._exit_code: int | None = None
        self._terminations = 0
        # Not installed: the fit patch this module made at import hands it the fits.
        self.hook = FitHook(
            self._bus.emit,  # a fit emits no run_end: one call less an event (a tape)
            self.stop,
            quiet_keras=False,  # the script's own output stays as it is
            probes=None if probes else ProbeConfig(enabled=False),
            stop_on_nan=stop_on_nan,
            only_with=MonitorCallback,
            batch_tapes=True,  # the bus's sinks (writer, notifier) take tapes
        )
        self._unmonitored_noted = False
        self._emit(_run_start())
        self._emit(ScriptStart())
        self.sampler = SystemSampler(self._bus.emit, system_interval) if system_interval else None
        if self.sampler is not None:
            self.sampler.start()
        self._saved_sigterm = self._handle_sigterm()
        self._saved_excepthook = sys.excepthook
        sys.excepthook = self._excepthook
        atexit.register(self.close)

    def _emit(self, event: Event) -> None:
        if self.notifier is not None and isinstance(event, RunEnd):
            self.notifier.finish(event)  # its failure notice comes before run_end
        self._bus.emit(event)

    def note_unmonitored_fit(self) -> None:
        """A fit with a Monitor that did not pass through kmon's patch: say why, once."""
        if not self._unmonitored_noted:
            self._unmonitored_noted = True
            self._emit(Notice(level="warning", text=UNMONITORED_FIT_NOTE))

    def _handle_sigterm(self):
        """Take SIGTERM (what ``kmon stop`` sends) when the script left it at its
        default and this is the main thread; the handler it replaced, else None."""
        if threading.current_thread() is not threading.main_thread():
            return None
        if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
            return None  # the script's own handler decides
        signal.signal(signal.SIGTERM, self._on_sigterm)
        return signal.SIG_DFL

    def _on_sigterm(self, signum, frame) -> None:
        """Stop as ``kmon train`` does: a running ``fit()`` after its batch (later
        ones return at once); before any ``fit()``, a ``KeyboardInterrupt``. A second
        SIGTERM ends the script at once (exit code 143)."""
        self._terminations += 1
        self.stop.request()
        if self._terminations > 1:
            self._exit_code = SIGTERM_EXIT_CODE
            raise SystemExit(SIGTERM_EXIT_CODE)
        if not self.hook.in_fit and not self.hook.fits:
            raise KeyboardInterrupt

    def _excepthook(self, kind, value, tb) -> None:
        self._error = value
        self._saved_excepthook(kind, value, tb)

    def close(self) -> None:
        """Write ``run_end`` (how the script ended, as far as this process can
        tell), finish the log and give back ``fit``, SIGTERM and the except hook.
        Safe to call twice."""
        with _lock:
            if self.closed:
                return
            self.closed = True
        atexit.unregister(self.close)
        if self._saved_sigterm is not None and signal.getsignal(signal.SIGTERM) == self._on_sigterm:
            signal.signal(signal.SIGTERM, self._saved_sigterm)
        if sys.excepthook == self._excepthook:
            sys.excepthook = self._saved_excepthook
        if self.sampler is not None:
            self.sampler.stop()  # its last sample before run_end
        self._emit(self._run_end())
        self.writer.close()
        notice = self.writer.final_notice()
        if notice is not None:
            print(f"kmon: {notice.text}", file=sys.stderr)

    def _run_end(self) -> RunEnd:
        error, fits = self._error, self.hook.fits
        if self._exit_code is not None:
            return RunEnd(status="stopped", exit_code=self._exit_code, fits=fits)
        if isinstance(error, KeyboardInterrupt):
            return RunEnd(status="stopped", exit_code=130, fits=fits)
        if error is not None:
            lines = traceback.format_exception(type(error), error, error.__traceback__)
            return RunEnd(
                status="failed",
                exit_code=1,
                error={"message": f"{type(error).__name__}: {error}", "traceback": "".join(lines)},
                fits=fits,
            )
        return RunEnd(status="stopped" if self.stop.requested else "ok", exit_code=0, fits=fits)


def _open_log(log_path, log_dir, name: str) -> EventLogWriter:
    """The run's log writer: ``log_path``, or a new file in ``log_dir``.

    Raises:
        ValueError: the path is refused (one line).
        OSError: it cannot be created.
    """
    from kmon.engine.log.run_files import LogFileError

    while True:
        path = log_path or default_log_path(name, log_dir)
        try:
            return EventLogWriter(path)
        except LogFileExists:
            if log_path:
                raise ValueError(f"the event log {path} already exists") from None
        except LogFileError as exc:
            raise ValueError(str(exc)) from None


def _run_name() -> str:
    """The name of a new log: the module (``python -m``) or the script."""
    module = _main_module()
    if module:
        return module
    script = sys.argv[0] if sys.argv and sys.argv[0] else "python"
    return Path(script).name


def _main_module() -> str | None:
    """The module ``python -m`` runs as ``__main__``; None for a script."""
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    name = getattr(spec, "name", None)
    if not name:
        return None
    return name.removesuffix(".__main__")


def _run_start() -> RunStart:
    """This process as ``kmon train`` would record its script (or module)."""
    argv = list(sys.argv) or [""]
    script = Path(argv[0]).resolve() if argv[0] and os.path.isfile(argv[0]) else None
    start = ScriptTarget(script or Path(argv[0] or "python"), argv[1:]).run_start()
    if script is None:
        start.script, start.argv = argv[0] or None, argv
    start.module = _main_module()
    return start


def _install_fit_patch() -> bool:
    """Route every ``keras.Model.fit`` call of this process through the current
    in-script run, which monitors the ones with a :class:`MonitorCallback`: done at
    import, because ``model.fit(..., callbacks=[Monitor()])`` looks ``fit`` up
    before ``Monitor()`` runs. Under ``kmon train``, whose own hook monitors every
    fit already, nothing is patched; returns whether that is the case."""
    current_fit = keras.Model.fit
    if getattr(current_fit, "kmon_hook", None) is not None:
        return True
    if getattr(current_fit, "kmon_in_script", False):
        return False  # imported again (a reload): patched already
    original = current_fit
    signature = inspect.signature(original)

    def fit(model, *args, **kwargs):
        run = _current
        if run is None or run.closed:
            return original(model, *args, **kwargs)
        return run.hook.monitor_fit(original, signature, model, args, kwargs)

    fit.__doc__ = original.__doc__
    fit.__wrapped__ = original
    fit.kmon_in_script = True
    keras.Model.fit = fit
    return False


_under_kmon_train = _install_fit_patch()
