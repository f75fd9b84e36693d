"""Notifications of a run's end and of its alarms: what deserves one and what it
says (shared by every front end), and ``--notify-cmd``, the user's command that the
training process runs for each, off the training thread and never for long."""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kmon.engine.errors import ScriptError
from kmon.engine.events import NOTIFY_TOPIC, Alarm, Event, Notice, RunEnd

#: A notify command still running after this many seconds is killed (and the run
#: end waits at most this long for the last one).
NOTIFY_TIMEOUT_SECONDS = 10.0
#: Alarm severities that notify; ``info`` notices (``not_learning_yet``) never do.
NOTIFY_SEVERITIES = frozenset({"warning", "error"})
#: How often the notifier thread looks at the commands it runs.
_POLL_SECONDS = 0.05
#: The end of a failing command's stderr quoted in the notice.
_STDERR_TAIL_BYTES = 300


@dataclass(frozen=True, slots=True)
class Notification:
    """One thing to tell the user, outside the monitor."""

    event: str
    """``run_end`` or ``alarm`` (``KMON_EVENT``)."""
    status: str
    """The run's status (``ok``, ``failed``, ``stopped``, ``stale``), or the
    alarm's severity (``warning``, ``error``): ``KMON_STATUS``."""
    message: str
    """One line (``KMON_MESSAGE``)."""
    title: str = "kmon"


def notification_for(event: Event, run: str) -> Notification | None:
    """The notification ``event`` deserves, if any: a run's end, or an alarm raised
    with severity warning or error (once per raise: the log holds one ``raised``
    event per raise). ``run`` names the run in the message."""
    if isinstance(event, RunEnd):
        if event.status == "failed":
            reason = (event.error or {}).get("message") or f"exit code {event.exit_code}"
            message = f"run {run} failed: {reason}"
        elif event.status == "ok":
            message = f"run {run} finished"
        elif event.status == "stale":
            message = f"run {run} ended without a run_end: its process is gone"
        else:
            message = f"run {run} {event.status}"
        return Notification("run_end", event.status, _one_line(message), f"kmon: run {event.status}")
    if (
        isinstance(event, Alarm)
        and event.state == "raised"
        and event.severity in NOTIFY_SEVERITIES
    ):
        message = f"{event.severity} in run {run}: {event.kind}: {event.message}"
        return Notification("alarm", event.severity, _one_line(message), f"kmon: {event.kind}")
    return None


def _one_line(text: str, limit: int = 400) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def check_notify_command(command: str) -> None:
    """Refuse a ``--notify-cmd`` whose program cannot be found, before any run.

    Raises:
        ScriptError: empty, unparsable, or its first word is no program on PATH
            (nor a path to an executable file).
    """
    try:
        words = shlex.split(command)
    except ValueError as exc:
        raise ScriptError(f"--notify-cmd cannot be parsed: {exc}") from None
    if not words:
        raise ScriptError("--notify-cmd is empty")
    program = words[0]
    if _shell_word(program):
        return
    if shutil.which(program) is None:
        raise ScriptError(f"--notify-cmd: program not found: {program}")


def _shell_word(word: str) -> bool:
    """A word the shell answers itself (``VAR=x cmd``, a builtin such as ``echo``)."""
    return "=" in word or word in {"echo", "printf", "test", "[", "true", "false", ":", "exec"}


class CommandNotifier:
    """Runs ``--notify-cmd`` through the shell for each notification of a run.

    :meth:`put` is an event sink: O(1), it never blocks (it only queues what deserves
    a notification). A thread starts each alarm's command at once (they may
    overlap), and the run end's once they have ended, so that a user's channel gets
    the run's end last; each with ``KMON_EVENT``, ``KMON_RUN_ID``, ``KMON_STATUS``, ``KMON_MESSAGE`` and
    ``KMON_LOG`` in its environment, stdin and stdout on ``/dev/null``, in its own
    process group. A command that exits non-zero, or is still running after
    ``timeout`` seconds (then its whole group is killed), is reported with a
    ``notice`` (topic ``notify``) through ``emit``.

    :meth:`finish` notifies the run's end and waits for every command, at most
    twice ``timeout`` seconds (the alarms' commands, then the end's): call it just
    before ``run_end`` is emitted, so that its notices still reach the log.

    Args:
        command: the shell command.
        emit: where the notices go (must not block).
        log_path: the run's event log (``KMON_LOG``; its stem is ``KMON_RUN_ID``).
        timeout: seconds a command may run (None: :data:`NOTIFY_TIMEOUT_SECONDS`,
            read when the notifier is made, so tests can lower it).
    """

    def __init__(
        self,
        command: str,
        emit: Callable[[Event], None],
        log_path: str | os.PathLike,
        *,
        timeout: float | None = None,
    ) -> None:
        self.command = command
        self._emit = emit
        self.log_path = Path(log_path).absolute()
        self.run_id = self.log_path.stem
        self.timeout = NOTIFY_TIMEOUT_SECONDS if timeout is None else timeout
        self._queue: deque[Notification] = deque()
        self._wake = threading.Event()
        self._idle = threading.Event()
        self._idle.set()
        self._closing = False
        self._running: list[tuple[subprocess.Popen, float, Notification, object]] = []
        self.sent = 0
        """Commands started so far."""
        self._thread = threading.Thread(target=self._loop, name="kmon-notify", daemon=True)
        self._thread.start()

    def put(self, event: Event) -> None:
        """Queue the notification ``event`` deserves (run ends go through :meth:`finish`)."""
        if event.type != "alarm":
            return
        notification = notification_for(event, self.run_id)
        if notification is not None:
            self._idle.clear()
            self._queue.append(notification)
            self._wake.set()

    def finish(self, run_end: RunEnd) -> None:
        """Notify the run's end, and wait for every command to end or be killed: at
        most twice ``timeout`` seconds (plus the time to start them)."""
        if self._closing:
            return  # the run's end was notified already (an abandoned run ending late)
        notification = notification_for(run_end, self.run_id)
        if notification is not None:
            self._idle.clear()
            self._queue.append(notification)
        self._closing = True
        self._wake.set()
        # The thread kills each command at its timeout (the alarms' first, then the
        # end's); a margin for it to do so.
        deadline = time.monotonic() + 2 * self.timeout + 5.0
        while time.monotonic() < deadline:
            if self._idle.wait(deadline - time.monotonic()) and not self._queue:
                return
            time.sleep(_POLL_SECONDS)  # queued just as the thread went idle

    def _loop(self) -> None:
        while True:
            self._wake.wait(_POLL_SECONDS if self._running else None)
            self._wake.clear()
            self._check_running()  # first: the end's command starts once the others ended
            while self._queue and not (self._queue[0].event == "run_end" and self._running):
                self._start(self._queue.popleft())
            if not self._running and not self._queue:
                self._idle.set()
                if self._closing:
                    return

    def _start(self, notification: Notification) -> None:
        env = dict(os.environ)
        env.update(
            KMON_EVENT=notification.event,
            KMON_RUN_ID=self.run_id,
            KMON_STATUS=notification.status,
            KMON_MESSAGE=notification.message,
            KMON_LOG=str(self.log_path),
        )
        errors = tempfile.TemporaryFile()
        try:
            process = subprocess.Popen(
                self.command,
                shell=True,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=errors,
                start_new_session=True,  # its own group: a timeout kills its children too
                close_fds=True,
            )
        except OSError as exc:
            errors.close()
            self._tell(f"--notify-cmd could not start for {notification.event}: {exc.strerror}")
            return
        self.sent += 1
        self._running.append((process, time.monotonic() + self.timeout, notification, errors))

    def _check_running(self) -> None:
        now = time.monotonic()
        still = []
        for process, deadline, notification, errors in self._running:
            code = process.poll()
            if code is None and now < deadline:
                still.append((process, deadline, notification, errors))
                continue
            if code is None:
                _kill_group(process)
                self._tell(
                    f"--notify-cmd was still running after {self.timeout:g} s for "
                    f"{notification.event} ({notification.message}): killed"
                )
            elif code != 0:
                self._tell(
                    f"--notify-cmd failed (exit code {code}) for {notification.event}"
                    f"{_stderr_tail(errors)}"
                )
            errors.close()
        self._running = still

    def _tell(self, text: str) -> None:
        try:
            self._emit(Notice(level="warning", text=text, topic=NOTIFY_TOPIC))
        except Exception:  # noqa: BLE001 - the notifier must outlive a failing sink
            pass


def _kill_group(process: subprocess.Popen) -> None:
    """SIGKILL to the command's process group (the shell and what it started)."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except OSError:
        pass
    try:
        process.wait(1.0)
    except subprocess.TimeoutExpired:
        pass


def _stderr_tail(errors) -> str:
    """``: <the end of its stderr>`` when it wrote any, for the notice."""
    try:
        errors.seek(0, os.SEEK_END)
        size = errors.tell()
        errors.seek(max(0, size - _STDERR_TAIL_BYTES))
        text = errors.read().decode("utf-8", "replace")
    except OSError:
        return ""
    text = " ".join(text.split())
    return f": {text}" if text else ""
