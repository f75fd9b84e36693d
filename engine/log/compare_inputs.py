"""Reading the runs a compare is given: kmon logs, run ids, CSVLogger files and
TensorBoard folders, each read or refused with one line saying why."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from kmon.engine.events import Event
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
