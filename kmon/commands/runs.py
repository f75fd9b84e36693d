"""`kmon ps`, `kmon attach`, `kmon stop`: the runs in a runs folder, for long runs
over SSH."""

from __future__ import annotations

import argparse
import time

from kmon.engine.format import format_duration, printable
from kmon.errors import PROG, UserError, warn_unread
from kmon.terminal_check import has_terminal


def ps(args: argparse.Namespace) -> int:
    """`kmon ps`: a table of the runs, newest last, with each one's status."""
    # Imported here: the parser, which imports this module, stays instant.
    from kmon.engine.log.runs_folder import list_runs

    runs = list_runs(args.runs_dir)
    if not runs:
        print(f"no runs in {printable(args.runs_dir)}")
        return 0
    now = time.time()
    rows = [("RUN", "STATUS", "STARTED", "DURATION", "EPOCHS", "PID", "WHAT")]
    for info in runs:
        end = now if info.running else (info.last_t or now)
        rows.append(
            (
                printable(info.id),
                info.status,
                _clock(info.started),
                format_duration(end - (info.started or end)),
                "?" if info.epochs is None else str(info.epochs),
                str(info.pid or "-"),
                printable(info.what),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[-1])
    if any(info.status == "unknown" for info in runs):
        print(
            "unknown: a process holds the run's pid, but kmon cannot verify it is the run's "
            "(a log from an older kmon, or no /proc): it will not signal it"
        )
    return 0


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
    """`kmon stop`: ask a run to stop after its current batch."""
    from kmon.engine.log.runs_folder import RunNotFound, SignalRefused, request_stop

    info = _find(args)
    try:
        request_stop(info)
    except (RunNotFound, SignalRefused) as exc:
        raise UserError(printable(exc)) from None
    print(
        f"{PROG}: asked run {printable(info.id)} (pid {info.pid}) to stop after the current batch"
    )
    return 0


def _find(args: argparse.Namespace):
    """The run ``args.run`` names in ``--runs-dir`` (the newest running if none)."""
    from kmon.engine.log.runs_folder import RunNotFound, find_run

    try:
        return find_run(args.runs_dir, args.run)
    except RunNotFound as exc:
        raise UserError(printable(exc)) from None
