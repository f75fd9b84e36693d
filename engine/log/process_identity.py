"""Which process a run is, beyond its pid, and signalling only that process.

A pid alone names whatever process holds that number now: after the run died, an
unrelated program (or, after a reboot, anything) may have it. A run's log therefore
records the pid with the process's start time (clock ticks since boot, field 22 of
``/proc/PID/stat``) and the machine's boot id; a process is the run's only when all
three match. Where ``/proc`` is missing (not Linux), nothing can be verified: the
liveness is "unknown" and kmon never signals.
"""

from __future__ import annotations

import enum
import functools
import os
import re
import signal
from dataclasses import dataclass
from pathlib import Path

#: The largest pid Linux can hand out (PID_MAX_LIMIT on 64-bit); other systems stay
#: far below it. Anything above is not a pid, whatever a log says.
PID_LIMIT = 2**22
_BOOT_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_PROC = Path("/proc")


class Liveness(enum.Enum):
    ALIVE = "alive"
    """The recorded process runs now: pid, start time and boot id match."""
    GONE = "gone"
    """No such process, or the pid now belongs to another process or boot."""
    UNKNOWN = "unknown"
    """A process holds the pid, but it cannot be told whether it is the run's: the
    log has no start time or boot id (an older kmon), or there is no ``/proc``."""


class SignalRefused(Exception):
    """The process was not signalled; the message is one line for the user."""


@dataclass(frozen=True)
class ProcessIdentity:
    """A process as a run's log records it; built only from validated values."""

    pid: int
    start_time: int | None
    boot_id: str | None

    @classmethod
    def from_fields(
        cls, pid: object, start_time: object, boot_id: object
    ) -> ProcessIdentity | None:
        """The identity a log's ``run_start`` gives, from its raw JSON values.

        Returns None when ``pid`` is not a pid (a positive int up to PID_LIMIT: not a
        bool, a string, a float, a negative process group or 0). A start time or a
        boot id of the wrong shape is dropped (the identity is then unverifiable).
        """
        if not _is_pid(pid):
            return None
        if type(start_time) is not int or not 0 <= start_time < 2**63:
            start_time = None
        if not isinstance(boot_id, str) or not _BOOT_ID.fullmatch(boot_id):
            boot_id = None
        return cls(pid, start_time, boot_id)

    @property
    def verifiable(self) -> bool:
        return self.start_time is not None and self.boot_id is not None

    def liveness(self) -> Liveness:
        """Whether this process runs now (reads ``/proc``; never signals)."""
        if not _exists(self.pid):
            return Liveness.GONE
        boot_id = current_boot_id()
        if not self.verifiable or boot_id is None:
            return Liveness.UNKNOWN
        if self.boot_id != boot_id:
            return Liveness.GONE
        stat = _read_stat(self.pid)
        if stat is None:  # hidden by hidepid, or exited just now
            return Liveness.UNKNOWN if _exists(self.pid) else Liveness.GONE
        state, start_time = stat
        if state == b"Z":  # exited, not yet reaped by its parent
            return Liveness.GONE
        return Liveness.ALIVE if start_time == self.start_time else Liveness.GONE

    def send(self, signum: int = signal.SIGTERM) -> None:
        """Send ``signum`` to this process, and only to it.

        Through a pidfd where the system has them: the pidfd is opened first, the
        identity checked after, so the signal cannot reach a process that took the
        pid in between. Elsewhere the identity is checked just before ``kill``.

        Raises:
            SignalRefused: the process is gone, cannot be verified, or belongs to a
                user this one may not signal.
        """
        if not _is_pid(self.pid):  # never kill(0), kill(-1) or a process group
            raise SignalRefused(f"{self.pid!r} is not a process id")
        pidfd = _open_pidfd(self.pid)
        try:
            self._refuse_unless_alive()
            try:
                if pidfd is not None:
                    signal.pidfd_send_signal(pidfd, signum)
                else:
                    os.kill(self.pid, signum)
            except ProcessLookupError:
                raise SignalRefused(f"process {self.pid} is gone") from None
            except PermissionError:
                raise SignalRefused(self._not_yours()) from None
        finally:
            if pidfd is not None:
                os.close(pidfd)

    def _refuse_unless_alive(self) -> None:
        liveness = self.liveness()
        if liveness is Liveness.GONE:
            raise SignalRefused(f"process {self.pid} is gone (the pid may name another one now)")
        if liveness is Liveness.UNKNOWN:
            why = (
                "its log, from an older kmon, records no start time or boot id"
                if not self.verifiable
                else "this system has no /proc to check it against"
            )
            raise SignalRefused(
                f"kmon cannot verify that process {self.pid} is the run's ({why}); "
                f"if you are sure it is, `kill {self.pid}`"
            )

    def _not_yours(self) -> str:
        owner = owner_of(self.pid)
        whose = f"another user (uid {owner})" if owner is not None else "another user"
        return f"process {self.pid} belongs to {whose}"


def of_this_process() -> ProcessIdentity:
    """This process's identity, as ``run_start`` records it."""
    pid = os.getpid()
    return ProcessIdentity(pid, start_time_of(pid), current_boot_id())


def start_time_of(pid: int) -> int | None:
    """Field 22 of ``/proc/PID/stat`` (clock ticks after boot); None if unreadable."""
    stat = _read_stat(pid)
    return stat[1] if stat is not None else None


def _read_stat(pid: int) -> tuple[bytes, int] | None:
    """The state (field 3) and start time (field 22) of ``/proc/PID/stat``."""
    try:
        stat = (_PROC / str(pid) / "stat").read_bytes()
    except OSError:
        return None
    # Field 2 is the command name in parentheses, and it may hold spaces and ')':
    # the fields are counted after the last ')'. There, index 0 is field 3.
    fields = stat[stat.rfind(b")") + 1 :].split()
    try:
        return fields[0], int(fields[22 - 3])
    except (IndexError, ValueError):
        return None


@functools.cache
def current_boot_id() -> str | None:
    """This boot's id (``/proc/sys/kernel/random/boot_id``); None without /proc."""
    try:
        text = (_PROC / "sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return None
    return text if _BOOT_ID.fullmatch(text) else None


def owner_of(pid: int) -> int | None:
    """The uid owning process ``pid``; None if unknown."""
    try:
        return (_PROC / str(pid)).stat().st_uid
    except OSError:
        return None


def _is_pid(value: object) -> bool:
    return type(value) is int and 0 < value <= PID_LIMIT


def _exists(pid: int) -> bool:
    """Whether some process holds ``pid`` (signal 0 checks without sending)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, and belongs to another user
        return True
    return True


def _open_pidfd(pid: int) -> int | None:
    """A pidfd for ``pid``; None where the system has none (not Linux >= 5.3)."""
    if not hasattr(os, "pidfd_open") or not hasattr(signal, "pidfd_send_signal"):
        return None
    try:
        return os.pidfd_open(pid)
    except ProcessLookupError:
        raise SignalRefused(f"process {pid} is gone") from None
    except OSError:  # ENOSYS (an older kernel), or a sandbox that forbids it
        return None
