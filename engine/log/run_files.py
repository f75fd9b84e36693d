"""A run's files, made safely: unguessable names, private folders, new files only,
one writer.

A runs folder may be shared (``/tmp``, a team's NFS folder), so every file kmon
writes is created with ``O_CREAT | O_EXCL | O_NOFOLLOW``: a symlink or a file
planted at the name is refused, never followed or appended to. Folders kmon creates
are 0700 and files 0600 whatever the umask: a log holds the script's argv (tokens),
its working directory and all its output. An event log is locked (``flock``) for
its writer's life, so a second run cannot write into it.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import re
import stat
import time
from pathlib import Path

_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_APPEND | os.O_CLOEXEC
# O_NONBLOCK: opening a FIFO planted at the name must not hang kmon.
_EXISTING_FILE = os.O_RDWR | os.O_APPEND | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_FIRST_LINE_BYTES = 64 * 1024

#: Where runs keep their event logs when no folder is given (``--runs-dir``).
DEFAULT_RUNS_DIR = "kmon-runs"


def default_log_path(name: str, runs_dir: str | os.PathLike = DEFAULT_RUNS_DIR) -> Path:
    """A path ``<runs_dir>/<YYYYmmdd-HHMMSS>-<name>-<6 hex digits>.jsonl`` that is
    free, with its ``.out`` name free too.

    The random part keeps another user of a shared folder from guessing the name
    and planting something there first; the file is still created with ``O_EXCL``,
    so a name taken meanwhile is refused, never reused.
    """
    # Imported here: the command line imports this module for DEFAULT_RUNS_DIR, and
    # secrets (hashlib, random) would be most of its parse-time imports.
    import secrets

    folder = Path(runs_dir)
    stem = f"{time.strftime('%Y%m%d-%H%M%S')}-{_slug(name)}"
    while True:
        path = folder / f"{stem}-{secrets.token_hex(3)}.jsonl"
        if not (os.path.lexists(path) or os.path.lexists(path.with_suffix(".out"))):
            return path


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(name).stem)[:60] or "run"


class LogFileError(Exception):
    """kmon will not write this file; the message is one line for the user."""


class LogFileExists(LogFileError):
    """The path is taken (a file, a link, anything); nothing was touched."""


def make_private_dirs(folder: str | os.PathLike) -> None:
    """Create ``folder`` and the parents it lacks, each 0700 whatever the umask.

    A folder that exists is left as it is: the user chose it, and its mode too.

    Raises:
        LogFileError: a part of the path is a file, or cannot be created.
    """
    path = Path(folder)
    missing = []
    while not path.is_dir():
        missing.append(path)
        if path.parent == path:
            break
        path = path.parent
    for path in reversed(missing):
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            if path.is_dir():  # made meanwhile, by another run
                continue
            raise LogFileError(f"cannot create the folder {path}: a file is in the way") from None
        except OSError as exc:
            raise LogFileError(f"cannot create the folder {path}: {exc.strerror}") from None
        os.chmod(path, 0o700)  # mkdir's mode is masked by the umask


def create_private_file(path: str | os.PathLike) -> int:
    """A new file at ``path``, mode 0600, opened for appending; its descriptor.

    Raises:
        LogFileExists: something (a file, a symlink, a dangling symlink) is there.
        OSError: it cannot be created (permissions, a missing folder...).
    """
    try:
        fd = os.open(path, _NEW_FILE, 0o600)
    except FileExistsError:
        raise LogFileExists(f"{path} already exists") from None
    try:
        os.fchmod(fd, 0o600)  # the umask may have taken bits away, never added: be exact
    except OSError:
        os.close(fd)
        raise
    return fd


def open_own_file(path: str | os.PathLike) -> int:
    """An existing regular file of this user's, opened for appending (never through
    a symlink); its descriptor.

    Raises:
        LogFileError: a symlink, not a regular file, or another user's.
        OSError: it cannot be opened.
    """
    try:
        fd = os.open(path, _EXISTING_FILE)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise LogFileError(_symlink_message(path)) from None
        raise
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise LogFileError(f"{path} is not a regular file")
        if info.st_uid != os.geteuid():
            raise LogFileError(
                f"{path} belongs to another user (uid {info.st_uid}); kmon appends only "
                "to the files of the user it runs as"
            )
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_event_log(path: str | os.PathLike, *, append: bool = False) -> tuple[int, bool]:
    """Open an event log for its one writer, locked for as long as it is open.

    Without ``append`` the log must be new. With it, an existing kmon log of this
    user's is appended to (and a missing one created).

    Returns:
        The descriptor, and whether the file ends mid-line (an earlier writer was
        cut off: the next line must start on a fresh one).

    Raises:
        LogFileError: refused; the message says why and what to do.
        OSError: it cannot be created or opened.
    """
    try:
        fd = create_private_file(path)
    except LogFileExists:
        if not append:
            raise LogFileExists(_why_taken(path)) from None
        fd = open_own_file(path)
    try:
        if not _try_lock(fd, fcntl.LOCK_EX):
            raise LogFileError(_busy_message(path, fd))
        size = os.fstat(fd).st_size
        if size and _first_event_type(fd) != "run_start":
            raise LogFileError(
                f"{path} is not a kmon event log (its first line is not a run_start); "
                "kmon appends only to its own logs"
            )
        mid_line = bool(size) and os.pread(fd, 1, size - 1) != b"\n"
    except BaseException:
        os.close(fd)
        raise
    return fd, mid_line


def _why_taken(path: str | os.PathLike) -> str:
    """Why an existing ``path`` cannot be a new log, as one line."""
    try:
        info = os.lstat(path)
    except OSError:
        return f"the event log {path} already exists"
    if stat.S_ISLNK(info.st_mode):
        return _symlink_message(path)
    if not stat.S_ISREG(info.st_mode):
        return f"{path} already exists and is not a regular file; choose another --log path"
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return f"the event log {path} already exists; choose another --log path"
    try:
        if not _try_lock(fd, fcntl.LOCK_SH):
            return _busy_message(path, fd)
        if _first_event_type(fd) == "run_start":
            return (
                f"the event log {path} already exists: add --append to add this run to it, "
                "or choose another --log path"
            )
        return f"{path} already exists and is not a kmon event log; choose another --log path"
    finally:
        os.close(fd)


def _symlink_message(path: str | os.PathLike) -> str:
    return (
        f"{path} is a symbolic link: kmon writes only to regular files it does not reach "
        "through a link (give the real path)"
    )


def _busy_message(path: str | os.PathLike, fd: int) -> str:
    pid = _lock_holder(fd)
    who = f" (pid {pid})" if pid else ""
    return f"the event log {path} is being written by another run{who}"


def _try_lock(fd: int, kind: int) -> bool:
    try:
        fcntl.flock(fd, kind | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError as exc:
        if exc.errno in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS):
            return True  # a filesystem without locks: write unlocked rather than not at all
        raise
    return True


def _lock_holder(fd: int) -> int | None:
    """The pid holding a lock on ``fd``'s file, from /proc/locks (Linux); else the
    pid its first line's run_start names; None when neither tells."""
    info = os.fstat(fd)
    inode = f"{os.major(info.st_dev):02x}:{os.minor(info.st_dev):02x}:{info.st_ino}"
    try:
        with open("/proc/locks", encoding="ascii", errors="replace") as locks:
            for line in locks:
                fields = line.split()
                # "1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF"; "1: -> FLOCK ..."
                # lines are waiters, not holders.
                if len(fields) >= 6 and fields[1] == "FLOCK" and fields[5] == inode:
                    return int(fields[4])
    except (OSError, ValueError):
        pass
    pid = _first_event(fd).get("pid")
    return pid if isinstance(pid, int) else None


def _first_event_type(fd: int) -> str | None:
    kind = _first_event(fd).get("type")
    return kind if isinstance(kind, str) else None


def _first_event(fd: int) -> dict:
    """The file's first line as a JSON object; empty when it is not one."""
    try:
        first = json.loads(os.pread(fd, _FIRST_LINE_BYTES, 0).split(b"\n", 1)[0])
    except (OSError, ValueError, RecursionError):
        return {}
    return first if isinstance(first, dict) else {}


def check_event_log(path: str | os.PathLike, *, append: bool = False) -> None:
    """Refuse ``path`` as :func:`open_event_log` would, creating nothing: for a
    parent that hands the path to the process that will write it.

    Raises:
        LogFileError: it would be refused.
        OSError: it cannot be opened.
    """
    if not os.path.lexists(path):
        return
    if not append:
        raise LogFileExists(_why_taken(path))
    fd, _ = open_event_log(path, append=True)
    os.close(fd)
