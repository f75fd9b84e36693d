"""The runs folder: which runs exist, which still run, and asking one to stop.

Everything is read from the event logs themselves: ``run_start`` names the process,
``run_end`` says how it ended. A log without ``run_end`` whose process is gone is
*stale* (killed, or the machine rebooted).
"""

from __future__ import annotations

import json
import os
import signal
from dataclasses import dataclass
from pathlib import Path

_TAIL_BYTES = 256 * 1024


@dataclass
class RunInfo:
    """One run, as its event log tells it."""

    id: str
    path: Path
    status: str
    """"running", "ok", "failed", "stopped", or "stale"."""
    pid: int | None
    started: float | None
    last_t: float | None
    what: str
    epochs: int
    """Epochs finished in the latest fit (as Keras counts them), from the log's tail."""

    @property
    def running(self) -> bool:
        return self.status == "running"


class RunNotFound(LookupError):
    """No run matches; the message is one line for the user."""


def read_run(path: Path) -> RunInfo | None:
    """Describe the run logged in ``path``; None if it is not a kmon log."""
    try:
        with open(path, "rb") as handle:
            first = handle.readline()
            size = handle.seek(0, os.SEEK_END)
            handle.seek(max(size - _TAIL_BYTES, 0))
            tail = handle.read().split(b"\n")
    except OSError:
        return None
    start = _decode(first)
    if start is None or start.get("type") != "run_start":
        return None
    end, last_t, epochs = None, start.get("t"), 0
    for line in tail:
        event = _decode(line)
        if event is None:
            continue
        last_t = event.get("t", last_t)
        if event.get("type") == "epoch_end":
            epochs = int(event.get("epoch", 0)) + 1
        elif event.get("type") == "run_end":
            end = event
    pid = start.get("pid")
    if end is not None:
        status = str(end.get("status", "ok"))
    else:
        status = "running" if pid_alive(pid) else "stale"
    what = start.get("scenario") or Path(start.get("script") or "?").name
    if start.get("variant"):
        what += f" ({start['variant']})"
    return RunInfo(path.stem, path, status, pid, start.get("t"), last_t, what, epochs)


def list_runs(runs_dir: str | os.PathLike) -> list[RunInfo]:
    """Every run in the folder, oldest first."""
    folder = Path(runs_dir)
    if not folder.is_dir():
        return []
    runs = [info for path in folder.glob("*.jsonl") if (info := read_run(path)) is not None]
    return sorted(runs, key=lambda info: (info.started or 0.0, info.id))


def find_run(runs_dir: str | os.PathLike, run: str | None = None) -> RunInfo:
    """The run named ``run`` (an id, a unique id prefix or a log path), or the newest
    running one.

    Raises:
        RunNotFound: nothing matches, or a prefix matches several runs.
    """
    if run is not None and Path(run).is_file():
        info = read_run(Path(run))
        if info is None:
            raise RunNotFound(f"not a kmon event log: {run}")
        return info
    runs = list_runs(runs_dir)
    if run is None:
        running = [info for info in runs if info.running]
        if not running:
            raise RunNotFound(f"no running run in {runs_dir} (see `kmon ps`)")
        return running[-1]
    matches = [info for info in runs if info.id == run] or [
        info for info in runs if info.id.startswith(run)
    ]
    if not matches:
        raise RunNotFound(f"no run {run!r} in {runs_dir} (see `kmon ps`)")
    if len(matches) > 1:
        names = ", ".join(info.id for info in matches[:5])
        raise RunNotFound(f"{run!r} matches several runs: {names}")
    return matches[0]


def request_stop(info: RunInfo) -> None:
    """Ask a running run to stop gracefully (SIGTERM: training stops after the batch).

    Raises:
        RunNotFound: the run is not running.
    """
    if not info.running or info.pid is None:
        raise RunNotFound(f"run {info.id} is not running ({info.status})")
    try:
        os.kill(info.pid, signal.SIGTERM)
    except ProcessLookupError:
        raise RunNotFound(f"run {info.id}'s process {info.pid} is gone") from None


def pid_alive(pid: int | None) -> bool:
    """Whether ``pid`` is a live kmon (or Python) process, not a reused pid."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    cmdline = Path(f"/proc/{pid}/cmdline")
    if cmdline.exists():
        try:
            text = cmdline.read_bytes().decode(errors="replace")
        except OSError:
            return True
        return "kmon" in text or "python" in text
    return True


def _decode(line: bytes) -> dict | None:
    try:
        value = json.loads(line)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None
