"""Wires a training target to the event bus, the event log, output capture and a
monitor channel, and runs it headless when there is no monitor."""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

from .bus import EventBus
from .capture import OutputCapture
from .channel import MonitorChannel
from .eventlog import EventLogWriter
from .events import RunEnd
from .hangup import TerminalGuard
from .headless import HeadlessReporter
from .runner import CallableTarget, ScriptTarget, TrainingRun
from .state import RunState
from .stop import AFTER_BATCH, STOP_EFFECTS

DRAIN_SECONDS = 0.1
#: Exit code when a second SIGTERM gives up on a stopping run (128 + SIGTERM).
SIGTERM_EXIT_CODE = 143


class Session:
    """One run with everything around it.

    Args:
        target: the script or scenario to run.
        log_path: the JSON Lines event log to write.
        quiet_keras: silence Keras's progress bar (kmon reports progress).
        capture: capture fds 1 and 2 into log events.
        evaluate_training_data: evaluate on the training data at each epoch end.
        stop_on_nan: stop training when the loss becomes NaN or Inf.
        append: add to the existing kmon log at ``log_path`` (a resumed run) rather
            than refuse it.

    Raises:
        LogFileError: the log path is refused (one line for the user).
        OSError: the log cannot be created.
    """

    def __init__(
        self,
        target: ScriptTarget | CallableTarget,
        log_path: str | os.PathLike,
        *,
        quiet_keras: bool = True,
        capture: bool = True,
        evaluate_training_data: bool = False,
        stop_on_nan: bool = False,
        append: bool = False,
    ) -> None:
        self.log_path = Path(log_path)
        self.channel = MonitorChannel()
        # The writer's own trouble reaches the monitor through the channel only: the
        # log is what cannot take it.
        self.writer = EventLogWriter(self.log_path, append=append, on_notice=self.channel.put)
        self.bus = EventBus(self.writer, self.channel)
        self.capture = OutputCapture(self.bus.emit) if capture else None
        self.gate = threading.Event()
        self.run = TrainingRun(
            target,
            self.bus.emit,
            quiet_keras=quiet_keras,
            gate=self.gate,
            before_end=self.capture.finish_run if self.capture else None,
            evaluate_training_data=evaluate_training_data,
            stop_on_nan=stop_on_nan,
        )
        self._closed = False

    def start(self, *, open_gate: bool = True) -> None:
        if self.capture is not None:
            self.capture.start()
        self.run.start()
        if open_gate:
            self.gate.set()

    def terminal_fds(self) -> list[int]:
        """Descriptors that reach the user's terminal while this session runs."""
        capture = self.capture
        if capture is None or not capture.active:
            return [0, 1, 2]
        return [0, capture.terminal_out.fileno(), capture.terminal_err.fileno()]

    def close(self) -> None:
        """Restore the terminal and finish the log. Call once the run is over.

        If the log is incomplete, a last notice in the channel says so (from where,
        why, how many events are missing).
        """
        if self._closed:
            return
        self._closed = True
        if self.capture is not None:
            self.capture.stop()
        self.writer.close()
        notice = self.writer.final_notice()
        if notice is not None:
            self.channel.put(notice)

    def abandon(self) -> None:
        """Give up on a run that would not stop: record it as stopped, close the log."""
        if not self.run.finished.is_set():
            if self.capture is not None:
                self.capture.finish_run(timeout=1.0)  # the script's lines so far, then none
            self.bus.emit(RunEnd(status="stopped", exit_code=130, fits=self.run.fits))
        self.close()

    def end_abruptly(self, exit_code: int) -> None:
        """The script called ``os._exit(exit_code)``: the process ends without
        unwinding, so record the run's end and finish the log now, from that thread."""
        if self.capture is not None:
            self.capture.finish_run(timeout=1.0)  # the script's last lines, then none
        if not self.run.finished.is_set():
            error = None
            if exit_code:
                error = {"message": f"the script called os._exit({exit_code})", "traceback": ""}
            status = "failed" if exit_code else "ok"
            self.bus.emit(
                RunEnd(status=status, exit_code=exit_code, error=error, fits=self.run.fits)
            )
        self.close()


def run_headless(session: Session, *, explain_last_epoch: bool = False, quiet: bool = False) -> int:
    """Run to the end, printing the script's output and one line per epoch.

    Ctrl+C or SIGTERM asks training to stop gracefully; a second one gives up at
    once. If the terminal hangs up, training goes on silently to the end.
    Returns the run's exit code.

    Args:
        session: the run, not started yet.
        explain_last_epoch: end with the last epoch's explanation (scenarios).
        quiet: print the summary only (see :class:`HeadlessReporter`).
    """
    session.start()
    return follow_headless(session, explain_last_epoch=explain_last_epoch, quiet=quiet)


def follow_headless(
    session: Session,
    state: RunState | None = None,
    *,
    explain_last_epoch: bool = False,
    quiet: bool = False,
) -> int:
    """Report a started session headless until its run ends; return its exit code.

    Args:
        session: a started session.
        state: what was already shown (when a monitor hands over mid-run).
        explain_last_epoch: end with the last epoch's explanation.
        quiet: print the summary only.
    """
    capture = session.capture
    reporter = HeadlessReporter(
        capture.terminal_out if capture else sys.stdout,
        capture.terminal_err if capture else sys.stderr,
        log_path=str(session.log_path),
        state=state,
        explain_last_epoch=explain_last_epoch,
        quiet=quiet,
    )
    interrupts = terminations = 0
    with TerminalGuard(session.terminal_fds(), on_terminate=session.run.request_stop) as guard:
        while not session.run.finished.is_set():
            try:
                session.run.finished.wait(DRAIN_SECONDS)
                reporter.handle(session.channel.drain())
                if guard.terminations != terminations:
                    terminations = guard.terminations
                    if terminations > 1:
                        session.abandon()
                        _hand_back(reporter, session)
                        return SIGTERM_EXIT_CODE
                    what = _stopping(session.run.stop_action)
                    reporter.say(f"SIGTERM: {what}; send it again to quit now")
            except KeyboardInterrupt:
                interrupts += 1
                if interrupts > 1:
                    session.abandon()
                    _hand_back(reporter, session)
                    return 130
                what = _stopping(session.run.request_stop())
                reporter.say(f"{what}; Ctrl+C again to quit now")
            except OSError:
                # The terminal is gone but no SIGHUP came (yet): stop writing to it.
                guard.silence()
        # Closing joins the capture threads, so the script's last lines are drained
        # before the summary.
        session.close()
        _hand_back(reporter, session)
    return session.run.exit_code or 0


def _stopping(action: str | None) -> str:
    """The headless line for a stop, by what it does (see :mod:`.stop`)."""
    if action is None or action == AFTER_BATCH:
        return "stopping after this batch"
    return f"stopping: {STOP_EFFECTS[action]}"


def _hand_back(reporter: HeadlessReporter, session: Session) -> None:
    reporter.out, reporter.err = sys.stdout, sys.stderr
    try:
        reporter.handle(session.channel.drain())
        reporter.state.dropped = session.channel.dropped
        reporter.finish()
    except OSError:
        pass  # nobody is left to read the summary; the event log has everything
