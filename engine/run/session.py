"""Wires a training target to the event bus, the event log, output capture and a
monitor channel. The front ends (:mod:`kmon.engine.headless`, :mod:`kmon.tui`) drive it."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from kmon.engine.events import RunEnd
from kmon.engine.log.eventlog import EventLogWriter
from kmon.engine.run.bus import EventBus
from kmon.engine.run.capture import OutputCapture
from kmon.engine.run.channel import MonitorChannel
from kmon.engine.run.runner import CallableTarget, ScriptTarget, TrainingRun


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
