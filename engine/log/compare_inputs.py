"""Reading the runs a compare is given: kmon logs, run ids, CSVLogger files and
TensorBoard folders, each read or refused with one line saying why.

:func:`open_inputs` is the compare's way: a kmon log's events come with its
batches condensed to one line per epoch (what the epoch view needs), so that four
logs of a million batches never sit in memory as events; :func:`read_batches`
reads their batches as columns when the per-batch view is shown.
:func:`load_inputs` reads every event of each (``kmon export`` needs them all).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from kmon.engine.events import Event
from kmon.engine.log.compare_read import (
    BatchColumns,
    map_logs,
    read_batch_columns,
    read_condensed,
)
from kmon.engine.log.eventlog import LogReadReport
from kmon.engine.log.importers import UnreadableLog, load_any
from kmon.engine.log.runs_folder import RunNotFound, find_run

#: Most runs one compare shows (the palette has as many colours).
MAX_RUNS = 8


@dataclass
class LoadedRun:
    """One input read: its events, what the reader skipped, and what it was."""

    name: str
    """As the user gave it."""
    path: Path
    kind: str
    """``kmon log``, ``CSVLogger`` or ``TensorBoard``."""
    events: list[Event]
    report: LogReadReport


def kind_of(path: Path) -> str:
    if path.is_dir():
        return "TensorBoard"
    if path.suffix.lower() == ".csv":
        return "CSVLogger"
    return "kmon log"


def resolve(name: str, runs_dir: str | os.PathLike | None) -> Path:
    """A path as given, else a run id (or unique prefix) in ``runs_dir``.

    Raises:
        RunNotFound: neither; the message is one line.
    """
    path = Path(name)
    if path.exists():
        return path
    if runs_dir is None or "/" in name or os.sep in name:
        # A path (a run id has no folder in it), and find_run globs the name.
        raise RunNotFound(f"no such file or folder: {name}")
    try:
        return find_run(runs_dir, name).path
    except RunNotFound as exc:
        raise RunNotFound(f"no such file or folder, and {exc}") from None


def load_inputs(
    names: list[str], runs_dir: str | os.PathLike | None = None
) -> tuple[list[LoadedRun], list[str]]:
    """Read each input; the runs read, and one line per input that is not a run
    (``name: why``). An input with no training events at all is not a run."""
    runs: list[LoadedRun] = []
    problems: list[str] = []
    for name in names:
        try:
            path = resolve(name, runs_dir)
            events, report = load_any(path)
        except (RunNotFound, UnreadableLog) as exc:
            problems.append(f"{name}: {exc}")
            continue
        except OSError as exc:
            problems.append(f"{name}: cannot read it ({exc.strerror or exc})")
            continue
        if not any(event.type in ("epoch_end", "batch") for event in events):
            why = "not a run: no epochs or batches" if events else "not a kmon event log"
            problems.append(f"{name}: {why}")
            continue
        runs.append(LoadedRun(name, path, kind_of(path), events, report))
    return runs, problems


@dataclass
class OpenedRun:
    """One input opened: its events come a chunk at a time from :attr:`chunks`
    (each a list of events and :class:`~kmon.engine.log.fast_decode.BatchRun`), and
    what the reader skipped is in :attr:`report` once they all came.

    A kmon log's batches come condensed (:mod:`kmon.engine.log.compare_read`):
    :attr:`batch_log` is where to read them for the per-batch view
    (:func:`read_batches`); other inputs come whole, batches included."""

    name: str
    path: Path
    kind: str
    chunks: Iterator[list]
    report: LogReadReport
    batch_log: Path | None = None


def open_inputs(
    names: list[str], runs_dir: str | os.PathLike | None = None
) -> list[OpenedRun | str]:
    """Open each input, in the order given: an :class:`OpenedRun`, or one line
    saying why it cannot be (``name: why``). Whether an input holds a run at all
    is known only once its chunks were read: the one who folds them says so
    (:func:`kmon.engine.view.compare.fold_runs`).

    The kmon logs are read here, condensed, in worker processes where they are
    big (:func:`~kmon.engine.log.compare_read.map_logs`)."""
    opened: list[OpenedRun | str] = []
    logs: list[tuple[int, str, Path]] = []
    for name in names:
        try:
            path = resolve(name, runs_dir)
            kind = kind_of(path)
            if kind == "kmon log":
                with open(path, "rb"):
                    pass  # an unreadable file is said now, not halfway through
                logs.append((len(opened), name, path))
                opened.append(name)  # its place, filled below
                continue
            events, report = load_any(path)
        except (RunNotFound, UnreadableLog) as exc:
            opened.append(f"{name}: {exc}")
            continue
        except OSError as exc:
            opened.append(f"{name}: cannot read it ({exc.strerror or exc})")
            continue
        opened.append(OpenedRun(name, path, kind, iter([events]), report))
    read = map_logs(read_condensed, [path for _, _, path in logs])
    for (place, name, path), (events, report) in zip(logs, read):
        opened[place] = OpenedRun(name, path, "kmon log", iter([events]), report, path)
    return opened


def read_batches(
    paths: list[Path], nice: int = 0, stop: Callable[[], bool] | None = None
) -> list[BatchColumns | str]:
    """The batches of each kmon log as columns, or a line saying why they cannot
    be read, in worker processes where the logs are big (``nice`` and ``stop``:
    :func:`~kmon.engine.log.compare_read.map_logs`'s)."""
    return map_logs(read_batch_columns, paths, nice=nice, stop=stop)
