"""Reading the runs a compare is given: kmon logs, run ids, CSVLogger files and
TensorBoard folders, each read or refused with one line saying why.

:func:`open_inputs` is the compare's way: a kmon log is handed out a few MiB at a
time (its batches as runs of decoded lines), for the compare to fold while it
reads, so that four logs of a million batches never sit in memory as events.
:func:`load_inputs` reads every event of each (``kmon export`` needs them all).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from kmon.engine.events import Event
from kmon.engine.log.eventlog import EventLogReader, LogReadReport
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


#: Bytes of a kmon log read at a time by :func:`open_inputs`' chunks.
CHUNK_BYTES = 4 << 20


@dataclass
class OpenedRun:
    """One input opened: its events come a chunk at a time from :attr:`chunks`
    (each a list of events and :class:`~kmon.engine.log.fast_decode.BatchRun`), and
    what the reader skipped is in :attr:`report` once they all came."""

    name: str
    path: Path
    kind: str
    chunks: Iterator[list]
    report: LogReadReport


def open_inputs(
    names: list[str], runs_dir: str | os.PathLike | None = None
) -> list[OpenedRun | str]:
    """Open each input, in the order given: an :class:`OpenedRun`, or one line
    saying why it cannot be (``name: why``). Whether an input holds a run at all
    is known only once its chunks were read: the one who folds them says so
    (:func:`kmon.engine.view.compare.fold_runs`)."""
    opened: list[OpenedRun | str] = []
    for name in names:
        try:
            path = resolve(name, runs_dir)
            kind = kind_of(path)
            if kind == "kmon log":
                with open(path, "rb"):
                    pass  # an unreadable file is said now, not halfway through
                reader = EventLogReader(path, batch_runs=True)
                opened.append(OpenedRun(name, path, kind, _chunks(reader), reader.report))
                continue
            events, report = load_any(path)
        except (RunNotFound, UnreadableLog) as exc:
            opened.append(f"{name}: {exc}")
            continue
        except OSError as exc:
            opened.append(f"{name}: cannot read it ({exc.strerror or exc})")
            continue
        opened.append(OpenedRun(name, path, kind, iter([events]), report))
    return opened


def _chunks(reader: EventLogReader) -> Iterator[list]:
    """The log a chunk at a time; a file gone halfway ends it (the report says)."""
    try:
        while True:
            events = reader.read_new(CHUNK_BYTES)
            if not events:
                break
            yield events
        yield reader.read_all()
    except OSError as exc:
        reader.report.damaged.append(f"the log could not be read to its end ({exc.strerror})")

