"""`kmon train --detach` and `kmon run --detach`: the run goes on in the background,
in its own session, and kmon prints how to reach it."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from kmon.engine.log.run_files import (
    DEFAULT_RUNS_DIR,
    LogFileError,
    LogFileExists,
    check_event_log,
    create_private_file,
    default_log_path,
    make_private_dirs,
    open_own_file,
)
from kmon.engine.log.runs_folder import read_run
from kmon.errors import PROG, UserError

#: How long `--detach` watches the new run for an early exit before returning.
DETACH_CHECK_SECONDS = 1.0
#: How long it waits, at most, for the run to be listed (its log's run_start).
DETACH_LIST_SECONDS = 30.0


def detach(args: argparse.Namespace, name: str, *, append: bool) -> int:
    """Start the same command headless in its own session (``name`` names its log;
    ``append``: add to ``--log``'s), print how to reach it."""
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
    """The ``--runs-dir`` the commands printed for the run need: none for the default."""
    return "" if args.runs_dir == DEFAULT_RUNS_DIR else f" --runs-dir {args.runs_dir}"
