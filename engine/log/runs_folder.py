"""The runs folder: which runs exist, which still run, and asking one to stop.

Everything is read from the event logs themselves: ``run_start`` names the process
(its pid, start time and boot id: see :mod:`kmon.engine.log.process_identity`),
``run_end`` says how it ended. A log without ``run_end`` whose process is gone is
*stale* (killed, or the machine rebooted); one whose process cannot be verified is
*unknown*.

A log is read at both ends only: its first line (``run_start``, at most
``FIRST_LINE_BYTES``) and its last ``TAIL_BYTES``, of which only the few lines
needed are decoded; every value is validated before use, and a log that is not a
regular file, or whose first line is not a ``run_start``, is not a run.
"""

from __future__ import annotations

import glob
import json
import math
import os
import signal
import stat
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

import msgspec

from kmon.engine.log.process_identity import Liveness, ProcessIdentity, SignalRefused

FIRST_LINE_BYTES = 64 * 1024
TAIL_BYTES = 32 * 1024
_HEAD_GUESS = 4096
#: The statuses a ``run_end`` may give; any other value reads as "ended".
END_STATUSES = frozenset({"ok", "failed", "stopped"})
_LIVENESS_STATUS = {Liveness.ALIVE: "running", Liveness.GONE: "stale", Liveness.UNKNOWN: "unknown"}
#: Tail events that tell how many epochs the latest fit finished.
_EPOCH_TYPES = (b"epoch", b"fit_start")

__all__ = [
    "AmbiguousRun",
    "RunInfo",
    "RunNotFound",
    "SignalRefused",
    "find_run",
    "list_runs",
    "read_run",
]


@dataclass
class RunInfo:
    """One run, as its event log tells it (validated values only)."""

    id: str
    path: Path
    status: str
    """"running", "ok", "failed", "stopped", "ended" (a run_end with another
    status), "stale" (no run_end, the process is gone) or "unknown" (no run_end, a
    process holds the pid but cannot be verified to be the run's)."""
    pid: int | None
    started: float | None
    last_t: float | None
    what: str
    epochs: int | None
    """Epochs finished in the latest fit (as Keras counts them), from the log's
    tail; None when the tail does not tell."""
    identity: ProcessIdentity | None = None
    """The run's process; None when the log names no valid pid."""

    @property
    def running(self) -> bool:
        return self.status == "running"


class RunNotFound(LookupError):
    """No run matches; the message is one line for the user."""


class AmbiguousRun(RunNotFound):
    """A prefix matches several runs; the message names some."""


def read_run(path: Path) -> RunInfo | None:
    """Describe the run logged in ``path``; None if it is not a kmon log."""
    ends = _read_ends(path)
    if ends is None:
        return None
    start = _decode(ends[0])
    if start is None or start.get("type") != "run_start":
        return None
    started = _time(start.get("t"))
    end, last_t, epochs, latest = _scan_tail(ends[1])
    # A log may hold several runs (``--append``): the latest one's process and end
    # are the log's status.
    latest = latest or start
    identity = ProcessIdentity.from_fields(
        latest.get("pid"), latest.get("start_time"), latest.get("boot_id")
    )
    if end is not None:
        status = end
    elif identity is None:
        status = "stale"
    else:
        status = _LIVENESS_STATUS[identity.liveness()]
    if epochs is None and not ends[2]:
        epochs = 0  # the whole log was read: no epoch finished
    return RunInfo(
        id=path.stem,
        path=path,
        status=status,
        pid=identity.pid if identity is not None else None,
        started=started,
        last_t=last_t if last_t is not None else started,
        what=_what(start),
        epochs=epochs,
        identity=identity,
    )


def list_runs(runs_dir: str | os.PathLike, *, skip: Collection[str] = ()) -> list[RunInfo]:
    """Every run in the folder, oldest first.

    Args:
        skip: real paths (``os.path.realpath``) of logs not to read (known already).
    """
    folder = Path(runs_dir)
    try:
        with os.scandir(folder) as entries:
            names = [entry.name for entry in entries if entry.name.endswith(".jsonl")]
    except OSError:  # missing, not a folder, or not readable
        return []
    paths = [folder / name for name in names]
    if skip:
        real = os.path.realpath(folder)
        paths = [path for path in paths if os.path.join(real, path.name) not in skip]
    return _sorted(paths)


def find_run(runs_dir: str | os.PathLike, run: str | None = None) -> RunInfo:
    """The run named ``run`` (an id, a unique id prefix or a log path), or the newest
    running one. Names are matched against the file names first: only the logs
    they match are read.

    Raises:
        RunNotFound: nothing matches, or a prefix matches several runs.
    """
    if run is not None and Path(run).is_file():
        info = read_run(Path(run))
        if info is None:
            raise RunNotFound(f"not a kmon event log: {run}")
        return info
    if run is None:
        running = [info for info in list_runs(runs_dir) if info.running]
        if not running:
            raise RunNotFound(f"no running run in {runs_dir} (see `kmon ps`)")
        return running[-1]
    folder = Path(runs_dir)
    exact = read_run(folder / f"{run}.jsonl") if folder.is_dir() else None
    if exact is not None:
        return exact
    matches = _sorted(folder.glob(f"{glob.escape(run)}*.jsonl")) if folder.is_dir() else []
    if not matches:
        raise RunNotFound(f"no run {run!r} in {runs_dir} (see `kmon ps`)")
    if len(matches) > 1:
        names = ", ".join(info.id for info in matches[:5])
        raise AmbiguousRun(f"{run!r} matches several runs: {names}")
    return matches[0]


def request_stop(info: RunInfo) -> None:
    """Ask a running run to stop gracefully (SIGTERM: training stops after the
    batch). Its process is verified again right before the signal, which goes to
    that process alone (never a process group, never a reused pid).

    Raises:
        RunNotFound: the run is not running.
        SignalRefused: its process could not be signalled (gone, unverifiable, or
            another user's); the message names the run.
    """
    if info.identity is None or info.status not in ("running", "unknown"):
        raise RunNotFound(f"run {info.id} is not running ({info.status})")
    try:
        info.identity.send(signal.SIGTERM)
    except SignalRefused as exc:
        raise SignalRefused(f"cannot stop run {info.id}: {exc}") from None


def _sorted(paths) -> list[RunInfo]:
    runs = [info for path in paths if (info := read_run(path)) is not None]
    return sorted(runs, key=lambda info: (info.started or 0.0, info.id))


def _read_ends(path: Path) -> tuple[bytes, bytes, bool] | None:
    """The first line, the tail after it, and whether the tail was cut (the log is
    longer than both); None when ``path`` is not a regular, readable file or its
    first line is longer than FIRST_LINE_BYTES."""
    try:
        # O_NONBLOCK: a FIFO named *.jsonl must not hang `kmon ps` in open().
        flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
        fd = os.open(path, flags)
    except (OSError, ValueError):
        return None
    try:
        status = os.fstat(fd)
        if not stat.S_ISREG(status.st_mode):
            return None
        head = os.pread(fd, _HEAD_GUESS, 0)  # a run_start line is a few hundred bytes
        newline = head.find(b"\n")
        if newline < 0 and len(head) == _HEAD_GUESS:
            head = os.pread(fd, FIRST_LINE_BYTES, 0)
            newline = head.find(b"\n")
        if newline < 0:
            return (head, b"", False) if len(head) < FIRST_LINE_BYTES else None
        body = newline + 1
        offset = max(status.st_size - TAIL_BYTES, body)
        whole = status.st_size <= len(head)
        tail = head[offset:] if whole else os.pread(fd, TAIL_BYTES, offset)
    except OSError:
        return None
    finally:
        os.close(fd)
    cut = offset > body
    if cut:  # the tail starts mid-line
        tail = tail[tail.find(b"\n") + 1 :] if b"\n" in tail else b""
    return head[:newline], tail, cut


def _scan_tail(tail: bytes) -> tuple[str | None, float | None, int | None, dict | None]:
    """How the run ended (None: no run_end), its last event's time, the epochs its
    latest fit finished (None: not told), and the run_start of a run appended to the
    log (``--append``) when one is met before a run_end. Lines are taken from the
    end and decoded only while one of these is unknown and the line may tell it:
    usually the run_end and the batch before it."""
    end: str | None = None
    last_t: float | None = None
    epochs: int | None = None
    position = len(tail)
    while position > 0:
        start = tail.rfind(b"\n", 0, position) + 1
        line = tail[start:position]
        position = start - 1
        if end is None and b"run_start" in line:
            event = _decode(line)
            if event is not None and event.get("type") == "run_start":
                # The latest run began here: what comes before is an earlier run's.
                return (
                    end,
                    last_t if last_t is not None else _time(event.get("t")),
                    epochs or 0,
                    event,
                )
        wants_end = end is None and b"run_end" in line
        wants_epochs = epochs is None and any(word in line for word in _EPOCH_TYPES)
        if line.strip() and (last_t is None or wants_end or wants_epochs):
            event = _decode(line)
            if event is not None and isinstance(event.get("type"), str):
                if last_t is None:
                    last_t = _time(event.get("t"))
                if epochs is None:
                    epochs = _epochs_after(event)
                if end is None and event["type"] == "run_end":
                    end = _end_status(event)
        if last_t is not None and epochs is not None:
            # Done, unless the lines not read yet hold the end, or an appended
            # run's start (which would make what follows it the latest run).
            rest = max(position, 0)
            if end is not None or (
                tail.rfind(b"run_end", 0, rest) < 0 and tail.rfind(b"run_start", 0, rest) < 0
            ):
                break
    return end, last_t, epochs, None


def _end_status(run_end: dict) -> str:
    status = run_end.get("status", "ok")
    return status if isinstance(status, str) and status in END_STATUSES else "ended"


def _epochs_after(event: dict) -> int | None:
    """Epochs the fit finished once ``event`` was written; None if it does not say."""
    kind = event.get("type")
    if kind == "fit_start":
        return _count(event.get("initial_epoch", 0))
    epoch = _count(event.get("epoch"))
    if epoch is None:
        return None
    if kind == "epoch_end":
        return epoch + 1
    if kind in ("batch", "epoch_start", "val_end", "train_eval"):
        return epoch  # this epoch is under way
    return None


def _what(start: dict) -> str:
    """The scenario (and variant), ``-m`` and the module, or the script's file name."""
    scenario, script, variant = start.get("scenario"), start.get("script"), start.get("variant")
    module = start.get("module")
    if isinstance(scenario, str) and scenario:
        what = scenario
    elif isinstance(module, str) and module:
        what = f"-m {module}"
    elif isinstance(script, str) and script:
        what = os.path.basename(script) or script
    else:
        what = "?"
    if isinstance(variant, str) and variant:
        what += f" ({variant})"
    return what


def _time(value: object) -> float | None:
    """A finite Unix time, or None."""
    if type(value) not in (int, float) or not math.isfinite(value):
        return None
    return float(value) if 0 <= value < 2**40 else None


def _count(value: object) -> int | None:
    return value if type(value) is int and 0 <= value < 2**31 else None


def _decode(line: bytes) -> dict | None:
    try:
        # msgspec decodes these lines 4x as fast as json (2,000 logs' ends: 40 ms
        # less); whatever it refuses (NaN, a lone surrogate, ...) json decides.
        value = msgspec.json.decode(line)
    except (ValueError, RecursionError):
        try:
            value = json.loads(line.decode())  # a str skips json's encoding detection
        except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
            return None
    return value if isinstance(value, dict) else None
