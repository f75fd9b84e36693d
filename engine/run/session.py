"""Wires a training run to the event bus, the event log, output capture and a monitor
channel, behind the small API both front ends (:mod:`kmon.engine.headless`,
:mod:`kmon.tui`) drive a run with."""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path
from typing import TextIO

from kmon.engine.events import Event, RunEnd
from kmon.engine.log.eventlog import EventLogWriter
from kmon.engine.run.bell import Bell
from kmon.engine.run.bus import EventBus
from kmon.engine.run.capture import OutputCapture
from kmon.engine.run.channel import MonitorChannel
from kmon.engine.run.notify import CommandNotifier
from kmon.engine.run.output_through import OutputThrough
from kmon.engine.run.runner import TrainingRun
from kmon.engine.run.targets import CallableTarget, ModuleTarget, ScriptTarget
from kmon.engine.system.sampler import SystemSampler


class Session:
    """One run with everything around it, driven through the methods below.

    A front end starts it (:meth:`start`, then :meth:`open_gate` once it has the
    terminal), shows what :meth:`drain` hands out, asks for a stop
    (:meth:`request_stop`), waits for the end (:attr:`finished`, :meth:`wait`) and
    closes it (:meth:`close`; :meth:`abandon` for a run that would not stop).

    Front ends use only these. The parts stay reachable for tests: ``run`` (the
    :class:`~kmon.engine.run.runner.TrainingRun`), ``capture`` (the
    :class:`~kmon.engine.run.capture.OutputCapture`, None without capture) and
    ``writer`` (the event log's writer).

    Args:
        target: the script or scenario to run.
        log_path: the JSON Lines event log to write.
        quiet_keras: silence Keras's progress bar (kmon reports progress).
        capture: capture fds 1 and 2 into log events.
        evaluate_training_data: evaluate on the training data at each epoch end.
        stop_on_nan: stop training when the loss becomes NaN or Inf.
        append: add to the existing kmon log at ``log_path`` (a resumed run) rather
            than refuse it.
        notify_cmd: a shell command run for the run's end and each alarm raised
            (see :class:`~kmon.engine.run.notify.CommandNotifier`); None: none.
        system_interval: seconds between ``system`` samples (CPU, memory, GPUs:
            :mod:`kmon.engine.system`); 0 samples nothing.

    Raises:
        LogFileError: the log path is refused (one line for the user).
        OSError: the log cannot be created.
    """

    def __init__(
        self,
        target: ScriptTarget | ModuleTarget | CallableTarget,
        log_path: str | os.PathLike,
        *,
        quiet_keras: bool = True,
        capture: bool = True,
        evaluate_training_data: bool = False,
        stop_on_nan: bool = False,
        append: bool = False,
        notify_cmd: str | None = None,
        system_interval: float = 0.0,
    ) -> None:
        self.log_path = Path(log_path)
        self.bell = Bell()
        """Rung at news (see :attr:`last_news`) and at the run's end, for a front end
        that sleeps until then (the headless loop)."""
        self._channel = MonitorChannel(bell=self.bell)
        # The writer's own trouble reaches the monitor through the channel only: the
        # log is what cannot take it.
        self.writer = EventLogWriter(self.log_path, append=append, on_notice=self._channel.put)
        self._bus = EventBus(self.writer, self._channel)
        self.notifier = None
        if notify_cmd:
            self.notifier = CommandNotifier(notify_cmd, self._bus.emit, self.log_path)
            self._bus.add(self.notifier)
        self.capture = OutputCapture(self._bus.emit) if capture else None
        self._gate = threading.Event()
        self.sampler = SystemSampler(self._bus.emit, system_interval) if system_interval else None
        self.run = TrainingRun(
            target,
            self._emit,
            quiet_keras=quiet_keras,
            gate=self._gate,
            before_end=self._before_end,
            after_end=self.bell.ring,
            evaluate_training_data=evaluate_training_data,
            stop_on_nan=stop_on_nan,
            batch_tapes=True,  # the bus's sinks (writer, channel, notifier) take tapes
            fit_emit=self._bus.emit,  # a fit emits no run_end: one call less an event
        )
        self._closed = False

    def _emit(self, event: Event) -> None:
        """The run's events into the bus; the run's end is notified first (waiting
        at most twice the notify timeout: the alarms' commands, then the end's), so
        that a failed notification is logged."""
        if self.notifier is not None and isinstance(event, RunEnd):
            self.notifier.finish(event)
        self._bus.emit(event)

    def _before_end(self) -> None:
        """Just before ``run_end``: the last samples and the script's last lines
        go out first (nothing is logged after ``run_end``)."""
        if self.sampler is not None:
            self.sampler.stop()
        if self.capture is not None:
            self.capture.finish_run()

    # -- starting ------------------------------------------------------------------

    def start(self, *, open_gate: bool = True, pass_output_through: bool = False) -> None:
        """Start capturing output and the training thread.

        Args:
            open_gate: let the script start at once. A monitor passes False and calls
                :meth:`open_gate` once it has taken over the terminal.
            pass_output_through: the script's output also goes on to the terminal
                as it comes, byte for byte (headless: :attr:`output_through`).
        """
        if self.capture is not None:
            self.capture.start(pass_through=pass_output_through)
        if self.sampler is not None:
            self.sampler.start()
        self.run.start()
        if open_gate:
            self.open_gate()

    def open_gate(self) -> None:
        """Let the script start (it waits for this after kmon imported Keras).

        The script's ``sys.stdout``/``sys.stderr`` are pointed at the capture again
        first: a monitor that just started (Textual) swapped them for its own.
        """
        if self.capture is not None:
            self.capture.install_python_streams()
        self._gate.set()

    # -- while it runs -------------------------------------------------------------

    def drain(self) -> list[Event]:
        """The events for the monitor since the last call (see
        :class:`~kmon.engine.run.channel.MonitorChannel`)."""
        return self._channel.drain()

    @property
    def dropped(self) -> int:
        """Batch events the monitor channel coalesced so far (the log has them all)."""
        return self._channel.dropped

    @property
    def last_news(self) -> int:
        """The number of the last event that a front end prints a line for (see
        :attr:`~kmon.engine.run.channel.MonitorChannel.last_news`)."""
        return self._channel.last_news

    @property
    def drained_through(self) -> int:
        """Every event numbered below this was handed out by :meth:`drain`."""
        return self._channel.drained_through

    @property
    def news_waiting(self) -> bool:
        """Whether the monitor's next drain may bring more than batch events."""
        return self._channel.news_waiting

    def emit(self, event: Event) -> None:
        """Record an event of the front end's own (to the log and the monitor)."""
        self._bus.emit(event)

    def request_stop(self) -> str:
        """Ask the run to stop; returns what that does (see :mod:`kmon.engine.stop`).
        Safe from a signal handler."""
        return self.run.request_stop()

    @property
    def stop_action(self) -> str | None:
        """What the first stop request did; None before any."""
        return self.run.stop_action

    # -- the terminal ----------------------------------------------------------------

    @property
    def captures_output(self) -> bool:
        """Whether the script's fds 1 and 2 lead into the capture, not the terminal."""
        return self.capture is not None and self.capture.active

    @property
    def output_through(self) -> OutputThrough | None:
        """The script's output on its way to the terminal as it comes (see
        :mod:`~kmon.engine.run.output_through`); None where only the events' lines
        show it (the monitor) or nothing is captured."""
        return self.capture.through if self.capture is not None else None

    @property
    def terminal_out(self) -> TextIO:
        """Where kmon writes for the user: the real stdout while output is captured."""
        if self.captures_output:
            return self.capture.terminal_out
        return sys.stdout

    @property
    def terminal_err(self) -> TextIO:
        """Where kmon's errors go: the real stderr while output is captured."""
        if self.captures_output:
            return self.capture.terminal_err
        return sys.stderr

    def terminal_fds(self) -> list[int]:
        """Descriptors that reach the user's terminal while this session runs."""
        if not self.captures_output:
            return [0, 1, 2]
        return [0, self.terminal_out.fileno(), self.terminal_err.fileno()]

    # -- the end ---------------------------------------------------------------------

    @property
    def finished(self) -> bool:
        """Whether the run ended (its ``run_end`` was emitted)."""
        return self.run.finished.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait up to ``timeout`` seconds (None: for ever) for the run to end; return
        whether it did."""
        return self.run.join(timeout)

    @property
    def awaiting_threads(self) -> bool:
        """Whether the script's code has returned and kmon waits for its threads
        (see :attr:`~kmon.engine.run.runner.TrainingRun.awaiting_threads`)."""
        return self.run.awaiting_threads

    @property
    def status(self) -> str | None:
        """How the run ended: "ok", "failed" or "stopped"; None before it ended."""
        return self.run.status

    @property
    def exit_code(self) -> int | None:
        """The script's exit code once the run ended; None before."""
        return self.run.exit_code

    @property
    def error(self) -> dict[str, str] | None:
        """A failed run's ``message`` and ``traceback``; None otherwise."""
        return self.run.error

    def close(self) -> None:
        """Restore the terminal and finish the log. Call once the run is over.

        If the log is incomplete, a last notice in the channel says so (from where,
        why, how many events are missing).
        """
        if self._closed:
            return
        self._closed = True
        if self.sampler is not None:
            self.sampler.stop()
        if self.capture is not None:
            self.capture.stop()
        self.writer.close()
        notice = self.writer.final_notice()
        if notice is not None:
            self._channel.put(notice)

    def abandon(self) -> None:
        """Give up on a run that would not stop: record it as stopped, close the log."""
        if not self.finished:
            if self.sampler is not None:
                self.sampler.stop()
            if self.capture is not None:
                self.capture.finish_run(timeout=1.0)  # the script's lines so far, then none
            self._emit(RunEnd(status="stopped", exit_code=130, fits=self.run.fits))
        self.close()

    def end_abruptly(self, exit_code: int) -> None:
        """The script called ``os._exit(exit_code)``: the process ends without
        unwinding, so record the run's end and finish the log now, from that thread."""
        if self.sampler is not None:
            self.sampler.stop(timeout=0.5)
        if self.capture is not None:
            self.capture.finish_run(timeout=1.0)  # the script's last lines, then none
        if not self.finished:
            error = None
            if exit_code:
                error = {"message": f"the script called os._exit({exit_code})", "traceback": ""}
            status = "failed" if exit_code else "ok"
            self._emit(RunEnd(status=status, exit_code=exit_code, error=error, fits=self.run.fits))
        self.close()
