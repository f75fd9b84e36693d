"""The per-user runs index: where every run's event log is, whatever its folder, so
``kmon ps --all``, ``kmon attach``, ``kmon stop`` and the Runs screen find a run from
any directory.

The index is ``$XDG_STATE_HOME/kmon/runs.jsonl`` (``~/.local/state/kmon`` when
``XDG_STATE_HOME`` is unset or not absolute, as the XDG spec says): one JSON line per
run, appended when the run's log is opened (:class:`~kmon.engine.log.writer.
EventLogWriter`). The folder is 0700 and the files 0600, never reached through a
symbolic link, and must be this user's, as :mod:`kmon.engine.log.run_files` rules for
logs. Every line is written by one ``write`` on an ``O_APPEND`` descriptor and is
shorter than ``PIPE_BUF``, so runs starting at once never interleave their lines; a
lock file (``flock``) keeps a prune from dropping a line appended while it rewrites
the index. Lines are validated on read: one that does not match is skipped and
counted, never trusted.
"""

from __future__ import annotations

import errno
import fcntl
import json
import math
import os
import socket
import stat
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from kmon.engine.log.process_identity import PID_LIMIT
from kmon.engine.log.run_files import LogFileError, make_private_dirs

INDEX_NAME = "runs.jsonl"
_LOCK_NAME = "runs.lock"
#: The version of an index line; a line of another version is skipped.
ENTRY_VERSION = 1
#: A line must stay below PIPE_BUF (4096 on Linux) to be appended atomically.
MAX_LINE_BYTES = 4000
#: An index larger than this is not read whole (about 200,000 runs).
MAX_INDEX_BYTES = 64 << 20
_NAME_LIMIT = 255
_LOCK_WAIT_SECONDS = 2.0
_APPEND = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_READ = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


class RunsIndexError(Exception):
    """The index cannot be read or written; the message is one line for the user."""


@dataclass(frozen=True)
class IndexEntry:
    """One run as the index records it (validated values only)."""

    log: Path
    """The run's event log: an absolute path."""
    run_id: str
    """The log's file name without ``.jsonl``: what ``kmon ps`` calls the run."""
    t: float
    """When the run was registered (Unix time)."""
    pid: int | None = None
    host: str | None = None
    """The machine the run started on (``socket.gethostname()``)."""


@dataclass
class IndexRead:
    """The index as read: its entries, the latest per log, oldest first, and how many
    lines were skipped as invalid."""

    entries: list[IndexEntry]
    skipped: int = 0
    path: Path | None = None


def index_dir() -> Path:
    """``$XDG_STATE_HOME/kmon``, or ``~/.local/state/kmon``."""
    base = os.environ.get("XDG_STATE_HOME", "")
    if not os.path.isabs(base):
        base = os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(base) / "kmon"


def index_path() -> Path:
    return index_dir() / INDEX_NAME


def this_host() -> str:
    try:
        return socket.gethostname()[:_NAME_LIMIT]
    except OSError:
        return ""


def register(
    log_path: str | os.PathLike,
    run_id: str | None = None,
    *,
    pid: int | None = None,
    t: float | None = None,
) -> IndexEntry:
    """Add a run to the index (one atomic append).

    Args:
        log_path: the run's event log; made absolute (not resolved: a link in a
            parent folder stays as the user named it).
        run_id: the run's id; by default the log's name without ``.jsonl``.
        pid: the run's process; by default this one.
        t: when; by default now.

    Raises:
        RunsIndexError: the index folder or file is refused or cannot be written.
    """
    log = Path(os.path.abspath(log_path))
    entry = IndexEntry(
        log=log,
        run_id=run_id if run_id is not None else log.stem,
        t=time.time() if t is None else t,
        pid=os.getpid() if pid is None else pid,
        host=this_host() or None,
    )
    line = _encode(entry)
    if _entry(line) is None:
        raise RunsIndexError(f"cannot index the run {log}: its path is too long or invalid")
    folder = _own_folder(create=True)
    with _Locked(folder):
        fd = _open_own(folder / INDEX_NAME, _APPEND)
        try:
            written = os.write(fd, line.encode() + b"\n")
        except OSError as exc:
            raise RunsIndexError(f"cannot write the runs index: {exc.strerror}") from None
        finally:
            os.close(fd)
    if written != len(line.encode()) + 1:
        raise RunsIndexError("the runs index took part of a line (a full disk?)")
    return entry


def read_index() -> IndexRead:
    """Every run in the index: the latest entry per log, oldest first.

    A missing index (or folder) reads as empty.

    Raises:
        RunsIndexError: the index is refused (a link, another user's, not a regular
            file) or cannot be read.
    """
    path = index_path()
    folder = _own_folder(create=False)
    if folder is None:
        return IndexRead([], 0, path)
    try:
        fd = _open_own(path, _READ)
    except RunsIndexError:
        if not os.path.lexists(path):
            return IndexRead([], 0, path)
        raise
    try:
        data = _read_all(fd)
    finally:
        os.close(fd)
    entries, skipped = _parse(data)
    return IndexRead(entries, skipped, path)


def prune(drop: Callable[[IndexEntry], bool]) -> list[IndexEntry]:
    """Rewrite the index without the entries ``drop`` picks, and without invalid or
    repeated lines. Logs are never touched.

    ``drop`` is asked outside the lock (it may read every log); lines appended
    meanwhile are kept.

    Returns:
        The entries removed.

    Raises:
        RunsIndexError: the index cannot be read or rewritten.
    """
    doomed = {_key(entry) for entry in read_index().entries if drop(entry)}
    folder = _own_folder(create=False)
    if folder is None:
        return []
    path = folder / INDEX_NAME
    removed: list[IndexEntry] = []
    with _Locked(folder):
        try:
            fd = _open_own(path, _READ)
        except RunsIndexError:
            if not os.path.lexists(path):
                return []
            raise
        try:
            data = _read_all(fd)
        finally:
            os.close(fd)
        entries, _ = _parse(data)
        kept = []
        for entry in entries:
            (removed if _key(entry) in doomed else kept).append(entry)
        _replace(folder, path, (_encode(entry) for entry in kept))
    return removed


def _key(entry: IndexEntry) -> tuple[str, float]:
    return str(entry.log), entry.t


def _replace(folder: Path, path: Path, lines: Iterable[str]) -> None:
    """Write ``lines`` to a new private file and rename it over ``path``."""
    temporary = folder / f".{INDEX_NAME}.{os.getpid()}.tmp"
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except OSError as exc:
        raise RunsIndexError(f"cannot rewrite the runs index: {exc.strerror}") from None
    try:
        try:
            os.fchmod(fd, 0o600)
            data = memoryview("".join(line + "\n" for line in lines).encode())
            while data:
                data = data[os.write(fd, data) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temporary, path)
    except OSError as exc:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise RunsIndexError(f"cannot rewrite the runs index: {exc.strerror}") from None


def _encode(entry: IndexEntry) -> str:
    record: dict = {"v": ENTRY_VERSION, "log": str(entry.log), "run": entry.run_id}
    record["t"] = entry.t
    if entry.pid is not None:
        record["pid"] = entry.pid
    if entry.host:
        record["host"] = entry.host
    return json.dumps(record, ensure_ascii=True, separators=(",", ":"))


def _parse(data: bytes) -> tuple[list[IndexEntry], int]:
    latest: dict[str, IndexEntry] = {}
    skipped = 0
    for raw in data.split(b"\n"):
        if not raw.strip():
            continue
        entry = _entry(raw)
        if entry is None:
            skipped += 1
            continue
        key = str(entry.log)
        if key not in latest or latest[key].t <= entry.t:
            latest[key] = entry
    return sorted(latest.values(), key=lambda entry: (entry.t, entry.run_id)), skipped


def _entry(raw: bytes | str) -> IndexEntry | None:
    """The entry one line holds; None unless every field is valid."""
    if len(raw) > MAX_LINE_BYTES:
        return None
    try:
        record = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    if type(record) is not dict or record.get("v") != ENTRY_VERSION:
        return None
    log, run_id, t = record.get("log"), record.get("run"), record.get("t")
    pid, host = record.get("pid"), record.get("host")
    if not (isinstance(log, str) and os.path.isabs(log) and "\0" not in log):
        return None
    if not (isinstance(run_id, str) and 0 < len(run_id) <= _NAME_LIMIT) or "/" in run_id:
        return None
    if "\0" in run_id or run_id in (".", ".."):
        return None
    if type(t) not in (int, float) or not math.isfinite(t) or not 0 <= t < 2**40:
        return None
    if pid is not None and not (type(pid) is int and 0 < pid <= PID_LIMIT):
        return None
    if host is not None and not (isinstance(host, str) and len(host) <= _NAME_LIMIT):
        return None
    return IndexEntry(Path(log), run_id, float(t), pid, host or None)


def _own_folder(*, create: bool) -> Path | None:
    """The index folder, checked: a real folder of this user's (made 0700 when
    ``create``); None when it does not exist and ``create`` is False."""
    folder = index_dir()
    try:
        info = os.lstat(folder)
    except FileNotFoundError:
        if not create:
            return None
        try:
            make_private_dirs(folder)
        except LogFileError as exc:
            raise RunsIndexError(f"cannot create the runs index: {exc}") from None
        info = os.lstat(folder)
    except OSError as exc:
        raise RunsIndexError(
            f"cannot read the runs index folder {folder}: {exc.strerror}"
        ) from None
    if stat.S_ISLNK(info.st_mode):
        raise RunsIndexError(
            f"the runs index folder {folder} is a symbolic link: kmon keeps its index "
            "only in a real folder"
        )
    if not stat.S_ISDIR(info.st_mode):
        raise RunsIndexError(f"the runs index folder {folder} is not a folder")
    if info.st_uid != os.geteuid():
        raise RunsIndexError(
            f"the runs index folder {folder} belongs to another user (uid {info.st_uid})"
        )
    if stat.S_IMODE(info.st_mode) & 0o077:
        try:
            os.chmod(folder, 0o700)  # our own state: nobody else's to read
        except OSError:
            pass
    return folder


def _open_own(path: Path, flags: int) -> int:
    """``path`` opened with ``flags`` (0600 if created): a regular file of this
    user's, never through a link.

    Raises:
        RunsIndexError: refused or not openable.
    """
    try:
        fd = os.open(path, flags, 0o600)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise RunsIndexError(f"the runs index {path} is a symbolic link") from None
        raise RunsIndexError(f"cannot open the runs index {path}: {exc.strerror}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise RunsIndexError(f"the runs index {path} is not a regular file")
        if info.st_uid != os.geteuid():
            raise RunsIndexError(f"the runs index {path} belongs to another user")
        if stat.S_IMODE(info.st_mode) != 0o600 and flags & os.O_WRONLY:
            os.fchmod(fd, 0o600)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _read_all(fd: int) -> bytes:
    try:
        size = os.fstat(fd).st_size
        if size > MAX_INDEX_BYTES:
            raise RunsIndexError(
                f"the runs index is {size} bytes, more than kmon reads; prune it "
                "(kmon ps --prune) or remove it"
            )
        chunks = []
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
    except OSError as exc:
        raise RunsIndexError(f"cannot read the runs index: {exc.strerror}") from None
    return b"".join(chunks)


class _Locked:
    """Holds the index's lock file (``flock``) for a ``with`` block. Waits at most
    ``_LOCK_WAIT_SECONDS``, then goes on unlocked: an append is atomic without it,
    and a run must not wait on a stuck prune."""

    def __init__(self, folder: Path) -> None:
        self._path = folder / _LOCK_NAME
        self._fd: int | None = None

    def __enter__(self) -> _Locked:
        try:
            self._fd = _open_own(self._path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC)
        except RunsIndexError:
            return self
        deadline = time.monotonic() + _LOCK_WAIT_SECONDS
        while True:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return self
            except BlockingIOError:
                if time.monotonic() > deadline:
                    return self
                time.sleep(0.01)
            except OSError:
                return self  # a filesystem without locks

    def __exit__(self, *exc_info) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing releases the lock
