"""Which runs there are, found again and again cheaply: the Runs screen's scan.

:func:`~kmon.engine.log.indexed_runs.all_runs` reads the index and both ends of
every log each time it is called (about 40 µs a log, 0.1 s for 2,000 runs). A
:class:`RunScanner` keeps what it read: the index is parsed again only when its
size, time or inode changed, and a log's ends are read again only when its size,
time or inode changed, or while its run may still be running (its process can end
without the log changing). A pass over 2,000 unchanged runs is a ``stat`` each.

The first pass of a screen need not read every log: :meth:`RunScanner.scan_first`
reads only the logs of the first runs in the order the Runs table opens with (newest
first), picked by their index entry's time, so a first frame can show rows before
the other logs are read.

The statuses are :func:`~kmon.engine.log.indexed_runs.describe`'s: *missing*, *not a
log*, *elsewhere*, else the log's own.
"""

from __future__ import annotations

import os
from pathlib import Path

from kmon.engine.log.indexed_runs import IndexedRun, joined, started_at
from kmon.engine.log.runs_folder import RunInfo, read_run
from kmon.engine.log.runs_index import IndexEntry, index_path, read_index, this_host

#: Statuses that a run's process may change while its log stays as it is.
_MAY_CHANGE = frozenset({"running", "unknown"})

_FileKey = tuple[int, int, int]


class RunScanner:
    """The runs of the per-user index and of one runs folder, cached between scans.

    Args:
        runs_dir: the runs folder whose logs the index lacks are listed too (None:
            the index only).
    """

    def __init__(self, runs_dir: str | os.PathLike | None = None) -> None:
        self.runs_dir = runs_dir
        self._host = this_host()
        self._index_key: _FileKey | None = None
        self._entries: list[IndexEntry] = []
        self._infos: dict[Path, tuple[_FileKey, RunInfo | None]] = {}
        self._real_dirs: dict[str, str] = {}

    def scan(self) -> list[IndexedRun]:
        """Every indexed run, and the runs of the folder the index lacks; oldest first.

        Raises:
            RunsIndexError: the index cannot be read (one line for the user).
        """
        runs = [self._indexed(entry) for entry in self._index_entries()]
        if self.runs_dir is not None:
            runs += self._unindexed_runs({self._real(run.path) for run in runs})
        seen = {run.path for run in runs}
        for path in [path for path in self._infos if path not in seen]:
            del self._infos[path]
        runs.sort(key=lambda run: (started_at(run), run.run_id))
        return runs

    def _unindexed_runs(self, known: set) -> list[IndexedRun]:
        """The runs folder's readable logs that are not among ``known`` (real paths)."""
        runs = []
        for path in self._folder_logs(known):
            info = self._info(path)
            if info is not None:
                runs.append(IndexedRun(info.path, info.id, info.status, info, None))
        return runs

    def scan_first(self, count: int) -> tuple[list[IndexedRun], int]:
        """The newest ``count`` runs, newest first (the last of :meth:`scan`'s order,
        or nearly), and how many runs :meth:`scan` would return: only their logs are
        read.

        An indexed run is picked by its entry's time (registered as its log began:
        the log's own start sorts the table), a run the index lacks by its log's start
        (read: such logs are few, from an older kmon). So a run whose entry's time and
        start disagree may be missing here and is shown by the next full scan.

        Raises:
            RunsIndexError: the index cannot be read (one line for the user).
        """
        entries = self._index_entries()
        runs: list[IndexedRun] = []
        total = len(entries)
        if self.runs_dir is not None:
            runs += self._unindexed_runs({self._real(entry.log) for entry in entries})
            total += len(runs)
        # The folder's runs stand in the order by their start, the indexed ones by
        # their entry's time: the newest `count` of both are the candidates.
        newest = {"key": lambda run: (started_at(run), run.run_id), "reverse": True}
        runs.sort(**newest)
        del runs[count:]
        picked = sorted(entries, key=lambda entry: (entry.t, entry.run_id), reverse=True)
        runs += [self._indexed(entry) for entry in picked[:count]]
        runs.sort(**newest)
        return runs[:count], total

    def _index_entries(self) -> list[IndexEntry]:
        key = _file_key(index_path())
        if key is None or key != self._index_key:
            self._entries = read_index().entries
            self._index_key = key
        return self._entries

    def _indexed(self, entry: IndexEntry) -> IndexedRun:
        info = self._info(entry.log)
        if info is None and not os.path.lexists(entry.log):
            self._infos.pop(entry.log, None)
            return joined(entry, None, host=self._host, missing=True)
        return joined(entry, info, host=self._host)

    def _info(self, path: Path) -> RunInfo | None:
        """The log's :func:`read_run`, read again only when it may have changed."""
        key = _file_key(path)
        if key is None:
            return None
        cached = self._infos.get(path)
        if cached is not None and cached[0] == key:
            info = cached[1]
            if info is None or info.status not in _MAY_CHANGE:
                return info
        info = read_run(path)
        self._infos[path] = (key, info)
        return info

    def _folder_logs(self, known: set[str]) -> list[Path]:
        folder = Path(self.runs_dir)
        try:
            with os.scandir(folder) as entries:
                names = [entry.name for entry in entries if entry.name.endswith(".jsonl")]
        except OSError:  # missing, not a folder, or not readable
            return []
        real = os.path.realpath(folder)
        return [folder / name for name in names if os.path.join(real, name) not in known]

    def _real(self, path: Path) -> str:
        """One name per file, for telling the index's logs from the folder's: the
        folder resolved once per folder, not once per log."""
        parent = str(path.parent)
        real = self._real_dirs.get(parent)
        if real is None:
            real = self._real_dirs[parent] = os.path.realpath(parent)
        name = os.path.join(real, path.name)
        return os.path.realpath(name) if os.path.islink(name) else name


def _file_key(path: Path) -> _FileKey | None:
    try:
        status = os.stat(path)
    except (OSError, ValueError):
        return None
    return (status.st_size, status.st_mtime_ns, status.st_ino)
