"""Every run of this user's: the per-user index (:mod:`.runs_index`) joined with the
logs it points to (:mod:`.runs_folder` reads each one's first line and tail).

A run whose log is gone is *missing*; one whose log is no longer a kmon log is
*not a log*; one started on another machine that has not ended is *elsewhere* (its
process cannot be checked from here). Pruning drops the missing, the not-logs and
the stale (no ``run_end``, process gone); it never touches a log.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from kmon.engine.log.runs_folder import AmbiguousRun, RunInfo, RunNotFound, list_runs, read_run
from kmon.engine.log.runs_index import IndexEntry, IndexRead, prune, read_index, this_host

#: Statuses of an index entry whose run cannot be read.
MISSING = "missing"
NOT_A_LOG = "not a log"
ELSEWHERE = "elsewhere"
_PRUNED = frozenset({MISSING, NOT_A_LOG, "stale"})


@dataclass
class IndexedRun:
    """One run found through the index or the runs folder."""

    path: Path
    run_id: str
    status: str
    """:class:`RunInfo`'s statuses, or MISSING, NOT_A_LOG, ELSEWHERE."""
    info: RunInfo | None
    """None when the log is missing or not a kmon log."""
    entry: IndexEntry | None = None
    """None for a run of the runs folder the index does not hold (an older kmon)."""

    @property
    def host(self) -> str | None:
        return self.entry.host if self.entry is not None else None


def describe(entry: IndexEntry, *, host: str | None = None) -> IndexedRun:
    """What ``entry``'s log says now (its first line and tail only)."""
    if not os.path.lexists(entry.log):
        return joined(entry, None, host=host, missing=True)
    return joined(entry, read_run(entry.log), host=host)


def joined(
    entry: IndexEntry, info: RunInfo | None, *, host: str | None = None, missing: bool = False
) -> IndexedRun:
    """``entry`` with what its log says (``info``: None when the log is ``missing``
    or not a kmon log)."""
    if info is None:
        return IndexedRun(entry.log, entry.run_id, MISSING if missing else NOT_A_LOG, None, entry)
    status = info.status
    here = this_host() if host is None else host
    if entry.host and here and entry.host != here and status in ("stale", "unknown"):
        status = ELSEWHERE  # another machine's boot: its process is not ours to judge
    return IndexedRun(entry.log, info.id, status, info, entry)


def all_runs(runs_dir: str | os.PathLike | None = None) -> tuple[list[IndexedRun], IndexRead]:
    """Every indexed run, and the runs of ``runs_dir`` the index lacks; oldest first.

    Raises:
        RunsIndexError: the index cannot be read (one line for the user).
    """
    index = read_index()
    host = this_host()
    runs = [describe(entry, host=host) for entry in index.entries]
    if runs_dir is not None:
        known = {_same(run.path) for run in runs}
        runs += [
            IndexedRun(info.path, info.id, info.status, info, None)
            for info in list_runs(runs_dir, skip=known)
        ]
    runs.sort(key=lambda run: (started_at(run), run.run_id))
    return runs, index


def running_elsewhere(runs_dir: str | os.PathLike) -> list[IndexedRun]:
    """The indexed runs of this machine still running with their log outside
    ``runs_dir`` (``kmon ps`` names them after the folder's): the index and the logs
    of live pids only, so it costs about nothing where none runs.

    Raises:
        RunsIndexError: the index cannot be read.
    """
    running, folder, host = [], _same(Path(runs_dir)), this_host()
    for entry in read_index().entries:
        if entry.pid is None or (entry.host and host and entry.host != host):
            continue
        if _same(entry.log.parent) == folder or not _pid_alive(entry.pid):
            continue
        run = describe(entry, host=host)
        if run.status in ("running", "unknown"):
            running.append(run)
    return running


def _pid_alive(pid: int) -> bool:
    """Whether a process has that pid (whose it is, :func:`read_run` checks)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True
    return True


def find_indexed_run(run: str) -> RunInfo:
    """The indexed run whose id is ``run`` or starts with it (one only).

    Raises:
        RunNotFound: none, several, or its log is gone or not a kmon log.
        RunsIndexError: the index cannot be read.
    """
    entries = read_index().entries
    matches = [entry for entry in entries if entry.run_id == run]
    if not matches:
        matches = [entry for entry in entries if entry.run_id.startswith(run)]
    if not matches:
        raise RunNotFound(
            f"no run {run!r} in the runs folder or the runs index (see `kmon ps --all`)"
        )
    if len({entry.log for entry in matches}) > 1:
        names = ", ".join(entry.run_id for entry in matches[:5])
        raise AmbiguousRun(f"{run!r} matches several runs: {names}")
    found = describe(matches[-1])
    if found.info is None:
        raise RunNotFound(f"run {found.run_id}'s log {found.path} is {found.status}")
    return found.info


def prune_stale() -> list[IndexEntry]:
    """Drop the entries whose log is missing, is not a kmon log, or is stale.

    Raises:
        RunsIndexError: the index cannot be read or rewritten.
    """
    host = this_host()
    return prune(lambda entry: describe(entry, host=host).status in _PRUNED)


def _same(path: Path) -> str:
    """One name per file, for telling the index's logs from the folder's."""
    try:
        return os.path.realpath(path)
    except OSError:
        return str(path)


def started_at(run: IndexedRun) -> float:
    """When the run started, for sorting (its index entry's time if its log is gone)."""
    if run.info is not None and run.info.started is not None:
        return run.info.started
    return run.entry.t if run.entry is not None else 0.0
