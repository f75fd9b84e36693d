"""`kmon ps`, `kmon attach`, `kmon stop`: the runs in a runs folder, or in the
per-user runs index (any folder), for long runs over SSH."""

from __future__ import annotations

import argparse
import os
import sys
import time

from kmon.engine.format import format_duration, printable
from kmon.errors import PROG, UserError, warn_unread
from kmon.terminal_check import has_terminal


def ps(args: argparse.Namespace) -> int:
    """`kmon ps`: a table of the runs, newest last, with each one's status; with
    ``--all`` every run of the per-user index too, with ``--prune`` the index
    without its stale and missing entries."""
    if args.prune:
        return _prune()
    if args.all:
        return _ps_all(args)
    # Imported here: the parser, which imports this module, stays instant.
    from kmon.engine.log.runs_folder import list_runs

    runs = list_runs(args.runs_dir)
    elsewhere = _running_elsewhere(args.runs_dir)
    if not runs:
        print(f"no runs in {printable(args.runs_dir)}")
    else:
        rows = [("RUN", "STATUS", "STARTED", "DURATION", "EPOCHS", "PID", "WHAT")]
        rows += [(*_cells(info.id, info.status, info), printable(info.what)) for info in runs]
        _print_table(rows)
    if elsewhere:
        # A run detached with --log in another folder (the one just started, often)
        # is what `kmon ps` is asked for: name it rather than say there is none.
        print(f"running in other folders (every run: {PROG} ps --all):")
        _print_table(_rows_with_folders(elsewhere))
    if any(info.status == "unknown" for info in runs) or any(
        run.status == "unknown" for run in elsewhere
    ):
        print(_UNKNOWN_NOTE)
    return 0


def _running_elsewhere(runs_dir) -> list:
    """The index's live runs outside ``runs_dir``; none where the index is unreadable
    (``kmon ps`` of the folder needs no index)."""
    from kmon.engine.log.indexed_runs import running_elsewhere
    from kmon.engine.log.runs_index import RunsIndexError

    try:
        return running_elsewhere(runs_dir)
    except RunsIndexError:
        return []


def _rows_with_folders(runs) -> list[tuple[str, ...]]:
    """The table of indexed runs, each with its log's folder."""
    rows = [("RUN", "STATUS", "STARTED", "DURATION", "EPOCHS", "PID", "FOLDER", "WHAT")]
    for run in runs:
        what = printable(run.info.what) if run.info is not None else "-"
        folder = printable(_home_relative(run.path.parent))
        rows.append((*_cells(run.run_id, run.status, run.info), folder, what))
    return rows


_UNKNOWN_NOTE = (
    "unknown: a process holds the run's pid, but kmon cannot verify it is the run's "
    "(a log from an older kmon, or no /proc): it will not signal it"
)


def _ps_all(args: argparse.Namespace) -> int:
    """`kmon ps --all`: every run of the index, and the folder's the index lacks."""
    from kmon.engine.log.indexed_runs import all_runs

    runs, index = _index_call(lambda: all_runs(args.runs_dir))
    if index.skipped:
        print(
            f"{PROG}: skipped {index.skipped} invalid entries of the runs index "
            f"{printable(index.path)}",
            file=sys.stderr,
        )
    if not runs:
        print(f"no runs in the runs index {printable(index.path)} or in {printable(args.runs_dir)}")
        return 0
    _print_table(_rows_with_folders(runs))
    statuses = {run.status for run in runs}
    if "unknown" in statuses:
        print(_UNKNOWN_NOTE)
    if statuses & {"stale", "missing", "not a log"}:
        print(
            "stale, missing, not a log: `kmon ps --prune` drops them from the index (never a log)"
        )
    if "elsewhere" in statuses:
        print("elsewhere: started on another machine and not ended; check it there")
    return 0


def _prune() -> int:
    from kmon.engine.log.indexed_runs import prune_stale

    removed = _index_call(prune_stale)
    for entry in removed:
        print(f"removed {printable(entry.run_id)} ({printable(entry.log)})")
    print(
        f"{PROG}: pruned {len(removed)} entr{'y' if len(removed) == 1 else 'ies'} from the runs index"
    )
    return 0


def _newest_running_anywhere(runs_dir):
    """The index's newest running run, for ``kmon attach`` run from another folder."""
    from kmon.engine.log.indexed_runs import all_runs

    runs, _ = _index_call(all_runs)
    running = [run.info for run in runs if run.status == "running" and run.info is not None]
    if not running:
        raise UserError(
            f"no running run in {printable(runs_dir)} or the runs index (see `kmon ps --all`)"
        )
    return running[-1]  # oldest first


def _index_call(call):
    """``call()``, with an unreadable index as one line for the user."""
    from kmon.engine.log.runs_index import RunsIndexError

    try:
        return call()
    except RunsIndexError as exc:
        raise UserError(printable(exc)) from None


def _cells(run_id: str, status: str, info) -> tuple[str, ...]:
    """RUN, STATUS, STARTED, DURATION, EPOCHS and PID of one row."""
    if info is None:
        return (printable(run_id), status, "-", "-", "-", "-")
    now = time.time()
    end = now if info.running else (info.last_t or now)
    return (
        printable(run_id),
        status,
        _clock(info.started),
        format_duration(end - (info.started or end)),
        "?" if info.epochs is None else str(info.epochs),
        str(info.pid or "-"),
    )


def _print_table(rows: list[tuple[str, ...]]) -> None:
    """Columns padded to their widest cell; the last one as it is."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[-1])


def _home_relative(folder) -> str:
    home = os.path.expanduser("~")
    text = str(folder)
    if home not in ("", "/") and (text == home or text.startswith(home + os.sep)):
        return "~" + text[len(home) :]
    return text


def runs_screen(args: argparse.Namespace) -> int:
    """`kmon runs`: every run in a live table (the Runs screen)."""
    from kmon.engine.log.runs_index import read_index

    _index_call(read_index)  # an unreadable index: one line, before any screen
    if not has_terminal():
        raise UserError("kmon runs needs a terminal; `kmon ps --all` lists the runs")
    from kmon.tui.runs_app import show_runs

    return show_runs(args.runs_dir, mouse=not args.no_mouse)


def _clock(started: float | None) -> str:
    """When a run started, as local time; "-" when the log does not say."""
    if started is None:
        return "-"
    try:
        return time.strftime("%Y-%m-%d %H:%M", time.localtime(started))
    except (OverflowError, OSError, ValueError):
        return "?"


def attach(args: argparse.Namespace) -> int:
    """`kmon attach`: the live monitor on a running run; leaving it leaves the run be."""
    info = _find(args)
    if not has_terminal():
        raise UserError(f"attach needs a terminal; read the log instead: {printable(info.path)}")
    from kmon.engine.log.sources import FollowSource
    from kmon.tui.attach_app import AttachedMonitorApp

    source = FollowSource(info.path, info.identity)
    from kmon.tui.launch import run_app

    app = AttachedMonitorApp(source)
    app.notifications.enabled = not args.no_notify
    _, signalled = run_app(app, mouse=not args.no_mouse)
    state = "still running" if source.running else "ended"
    print(f"{PROG}: detached from run {printable(info.id)} ({state}) · log: {printable(info.path)}")
    warn_unread(source.report, info.path)
    return signalled or 0


def stop(args: argparse.Namespace) -> int:
    """`kmon stop`: ask a run to stop, as ``q`` then yes in its monitor does."""
    from kmon.engine.log.runs_folder import RunNotFound, SignalRefused, request_stop

    info = _find(args)
    try:
        request_stop(info)
    except (RunNotFound, SignalRefused) as exc:
        raise UserError(printable(exc)) from None
    # What the stop does depends on what the run is doing then (a fit ends after
    # its batch; between fits, nothing is cut; waiting for the script's threads,
    # they are given up): the log says which, by then.
    print(
        f"{PROG}: asked run {printable(info.id)} (pid {info.pid}) to stop, as q then yes "
        "in its monitor does (in a fit: after the current batch)"
    )
    return 0


def _find(args: argparse.Namespace):
    """The run ``args.run`` names in ``--runs-dir``, else in the per-user runs
    index; with no name, the newest running run of ``--runs-dir``, else the newest
    one of the index (this machine's: a log on a shared home may be another's)."""
    from kmon.engine.log.runs_folder import AmbiguousRun, RunNotFound, find_run

    try:
        return find_run(args.runs_dir, args.run)
    except AmbiguousRun as exc:
        raise UserError(printable(exc)) from None
    except RunNotFound:
        if args.run is None:
            return _newest_running_anywhere(args.runs_dir)
    from kmon.engine.log.indexed_runs import find_indexed_run

    try:
        return _index_call(lambda: find_indexed_run(args.run))
    except RunNotFound as exc:
        raise UserError(printable(exc)) from None
