"""`kmon train --detach`, `kmon ps`, `kmon attach`, `kmon stop`: long runs over SSH."""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

from kmon.cli import PROG, UserError, has_terminal
from kmon.engine.eventlog import default_log_path
from kmon.engine.format import format_duration, printable
from kmon.engine.runs import (
    RunNotFound,
    SignalRefused,
    find_run,
    list_runs,
    read_run,
    request_stop,
)

#: How long `--detach` watches the new run for an early exit before returning.
DETACH_CHECK_SECONDS = 1.0
#: How long it waits, at most, for the run to be listed (its log's run_start).
DETACH_LIST_SECONDS = 30.0


def detach(args: argparse.Namespace, name: str) -> int:
    """Start the same command headless in its own session, print how to reach it."""
    log_path = Path(args.log) if args.log else default_log_path(name, args.runs_dir)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    output_path = log_path.with_suffix(".out")
    command = [sys.executable, "-m", "kmon", *_child_args(args.raw_argv, log_path)]
    with open(output_path, "ab") as output:
        child = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # no SIGHUP from this terminal, no Ctrl+C
            close_fds=True,
        )
    code = _wait_until_listed(child, log_path)
    if code is not None:
        raise UserError(f"the detached run exited at once ({code}); see {output_path}")
    run_id = log_path.stem
    print(f"{PROG}: started run {run_id} (pid {child.pid}), detached")
    print(f"  log:    {log_path}")
    print(f"  output: {output_path}")
    print(f"  attach: {PROG} attach {run_id}" + _runs_dir_flag(args))
    print(f"  stop:   {PROG} stop {run_id}" + _runs_dir_flag(args))
    return 0


def _wait_until_listed(child: subprocess.Popen, log_path: Path) -> int | None:
    """Watch the new run for DETACH_CHECK_SECONDS, and until its log names it (so
    `kmon ps` and `kmon attach` find it as soon as this returns). The child's exit
    code if it exited meanwhile, else None."""
    started = time.monotonic()
    while True:
        code = child.poll()
        if code is not None:
            return code
        waited = time.monotonic() - started
        listed = read_run(log_path) is not None
        if (listed and waited >= DETACH_CHECK_SECONDS) or waited >= DETACH_LIST_SECONDS:
            return None
        time.sleep(0.05)


def _child_args(argv: list[str], log_path: Path) -> list[str]:
    """The user's command minus --detach (before the script), plus --headless --log."""
    args = list(argv)
    args.remove("--detach")  # options come before the script: the first is ours
    command = args.pop(0)
    extra = ["--headless"]
    if "--log" not in args:
        extra += ["--log", str(log_path)]
    return [command, *extra, *args]


def _runs_dir_flag(args: argparse.Namespace) -> str:
    return "" if args.runs_dir == "kmon-runs" else f" --runs-dir {args.runs_dir}"


def ps(args: argparse.Namespace) -> int:
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
    info = _find(args)
    if not has_terminal():
        raise UserError(f"attach needs a terminal; read the log instead: {printable(info.path)}")
    from kmon.engine.sources import FollowSource
    from kmon.tui.attach_app import AttachedMonitorApp

    source = FollowSource(info.path, info.identity)
    AttachedMonitorApp(source).run(mouse=not args.no_mouse)
    state = "still running" if source.running else "ended"
    print(f"{PROG}: detached from run {printable(info.id)} ({state}) · log: {printable(info.path)}")
    from kmon.cli import warn_unread

    warn_unread(source.report, info.path)
    return 0


def stop(args: argparse.Namespace) -> int:
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
    try:
        return find_run(args.runs_dir, args.run)
    except RunNotFound as exc:
        raise UserError(printable(exc)) from None
