"""`kmon train --detach`, `kmon ps`, `kmon attach`, `kmon stop`: long runs over SSH."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from kmon.command_line import PROG, UserError, appends_to_log, has_terminal
from kmon.engine.format import format_duration, printable
from kmon.engine.log.runs_folder import (
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
    append = appends_to_log(args)
    log_path, output_fd, created = _open_output(args, name, append=append)
    output_path = _output_path(log_path)
    command = [sys.executable, "-m", "kmon", *_child_args(args.raw_argv, log_path)]
    try:
        child = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=output_fd,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # no SIGHUP from this terminal, no Ctrl+C
            close_fds=True,
        )
    finally:
        os.close(output_fd)
    code = _wait_until_listed(child, log_path)
    if code is not None:
        raise UserError(_early_exit_message(code, output_path, created=created))
    run_id = log_path.stem
    print(f"{PROG}: started run {run_id} (pid {child.pid}), detached")
    print(f"  log:    {log_path}")
    print(f"  output: {output_path}")
    print(f"  attach: {PROG} attach {run_id}" + _runs_dir_flag(args))
    print(f"  stop:   {PROG} stop {run_id}" + _runs_dir_flag(args))
    return 0


def _open_output(args: argparse.Namespace, name: str, *, append: bool) -> tuple[Path, int, bool]:
    """The run's log path and its ``.out`` file, open: new (0600, O_EXCL, never
    through a link), or with ``--append`` the existing one of this user's. The log
    itself is opened by the child; it is checked here, so a refusal comes before
    anything is created. Returns the path, the descriptor and whether it is new."""
    # Imported here: the event log's modules are most of `kmon ps`'s start-up.
    from kmon.engine.log.eventlog import default_log_path
    from kmon.engine.log.run_files import (
        LogFileError,
        LogFileExists,
        check_event_log,
        create_private_file,
        make_private_dirs,
        open_own_file,
    )

    chosen = Path(args.log) if args.log else None
    try:
        make_private_dirs(chosen.parent if chosen else Path(args.runs_dir))
        if chosen is not None:
            check_event_log(chosen, append=append)
    except LogFileError as exc:
        raise UserError(str(exc)) from None
    except OSError as exc:
        raise UserError(f"cannot write the event log {chosen}: {exc.strerror}") from None
    while True:
        log_path = chosen or default_log_path(name, args.runs_dir)
        output = _output_path(log_path)
        try:
            return log_path, create_private_file(output), True
        except LogFileExists:
            if chosen is None:
                continue  # a default name taken meanwhile: choose again
            if not append:
                raise UserError(
                    f"the output file {output} already exists; choose another --log path "
                    "(or --append to add to it)"
                ) from None
            try:
                return log_path, open_own_file(output), False
            except LogFileError as exc:
                raise UserError(str(exc)) from None
            except OSError as exc:
                raise UserError(f"cannot write the output file {output}: {exc.strerror}") from None
        except OSError as exc:
            raise UserError(f"cannot write the output file {output}: {exc.strerror}") from None


def _output_path(log_path: Path) -> Path:
    """Where a detached run's output goes: beside its log, with the same stem."""
    output = log_path.with_suffix(".out")
    return output if output != log_path else log_path.with_name(log_path.name + ".out")


def _early_exit_message(code: int, output_path: Path, *, created: bool) -> str:
    """Why the detached run exited at once: its own one-line error when it gave one
    (then an output file made for it alone is removed), else where to look."""
    try:
        lines = [line for line in output_path.read_text(errors="replace").splitlines() if line]
    except OSError:
        lines = []
    marker = f"{PROG}: error: "
    errors = [line.removeprefix(marker) for line in lines if line.startswith(marker)]
    if errors and len(lines) == 1:
        if created:
            output_path.unlink(missing_ok=True)
        return errors[-1]
    if errors:
        return f"{errors[-1]} (the detached run exited at once; see {output_path})"
    return f"the detached run exited at once ({code}); see {output_path}"


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
    from kmon.engine.log.sources import FollowSource
    from kmon.tui.attach_app import AttachedMonitorApp

    source = FollowSource(info.path, info.identity)
    from kmon.tui.launch import run_app

    _, signalled = run_app(AttachedMonitorApp(source), mouse=not args.no_mouse)
    state = "still running" if source.running else "ended"
    print(f"{PROG}: detached from run {printable(info.id)} ({state}) · log: {printable(info.path)}")
    from kmon.command_line import warn_unread

    warn_unread(source.report, info.path)
    return signalled or 0


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
