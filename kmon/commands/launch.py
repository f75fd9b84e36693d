"""How `kmon train` and `kmon run` start a run: its event log and session, then the
live monitor, headless lines, or a detached process."""

from __future__ import annotations

import argparse
import math
import os
import sys

from kmon.errors import UserError


def launch(
    target,
    args: argparse.Namespace,
    *,
    headless: bool,
    quiet_keras: bool,
    evaluate_training_data: bool = False,
    scenario: tuple | None = None,
) -> int:
    """Run ``target`` as the run options in ``args`` ask; ``scenario`` (a scenario
    and its variant) makes a scenario's run explain itself. Returns the exit code."""
    from kmon.engine.headless import run_headless

    check_notify_cmd(args)
    if args.detach:
        from kmon.commands.detach import detach

        return detach(args, run_name(target), append=appends_to_log(args))
    session = open_session(
        target, args, quiet_keras=quiet_keras, evaluate_training_data=evaluate_training_data
    )
    if headless:
        if scenario is None or args.quiet:
            return run_headless(session, quiet=args.quiet)
        # A scenario explains itself as the menu does: what it asks, then why.
        story, variant = scenario
        _say(
            f"{story.title} ({story.name}, variant {variant}: {story.variants[variant]})",
            f"The question: {story.question}",
            f"What you see: {story.symptom}",
        )
        code = run_headless(session, explain_last_epoch=True)
        _say(f"Why: {story.explanation}")
        return code
    from kmon.tui.launch import run_tui

    mouse = not args.no_mouse
    if scenario is None:
        return run_tui(session, mouse=mouse, notify=not args.no_notify)
    from functools import partial

    from kmon.tui.scenario_app import ScenarioMonitorApp

    factory = partial(ScenarioMonitorApp, scenario=scenario[0], variant=scenario[1])
    return run_tui(session, mouse=mouse, app_factory=factory, notify=not args.no_notify)


def open_session(
    target, args: argparse.Namespace, *, quiet_keras: bool, evaluate_training_data: bool
):
    """The run's :class:`~kmon.engine.run.session.Session`, its event log open:
    ``--log``'s file, or a new one in ``--runs-dir``."""
    from kmon.engine.log.eventlog import default_log_path
    from kmon.engine.log.run_files import LogFileError, LogFileExists
    from kmon.engine.run.session import Session

    log = args.log
    append = appends_to_log(args)
    while True:
        log_path = log or default_log_path(run_name(target), args.runs_dir)
        try:
            return Session(
                target,
                log_path,
                quiet_keras=quiet_keras,
                evaluate_training_data=evaluate_training_data,
                stop_on_nan=args.stop_on_nan,
                append=append,
                notify_cmd=args.notify_cmd,
                system_interval=system_interval(args),
            )
        except LogFileExists as exc:
            if log:
                raise UserError(str(exc)) from None
            # A default name taken between the choice and the open: choose again.
        except LogFileError as exc:
            raise UserError(str(exc)) from None
        except OSError as exc:
            raise UserError(f"cannot write the event log {log_path}: {exc.strerror}") from None


def check_notify_cmd(args: argparse.Namespace) -> None:
    """Refuse a ``--notify-cmd`` whose program is not found, before anything starts."""
    if args.notify_cmd is None:
        return
    from kmon.engine.errors import ScriptError
    from kmon.engine.run.notify import check_notify_command

    try:
        check_notify_command(args.notify_cmd)
    except ScriptError as exc:
        raise UserError(str(exc)) from None


def system_interval(args: argparse.Namespace) -> float:
    """``--system-interval`` (`kmon train`'s; 0 for a scenario run), checked."""
    seconds = getattr(args, "system_interval", 0.0)
    if not math.isfinite(seconds) or seconds < 0:
        raise UserError(f"--system-interval must be 0 (off) or a number of seconds, not {seconds}")
    return seconds


def appends_to_log(args: argparse.Namespace) -> bool:
    """Whether ``--append`` was given, which needs ``--log``."""
    if not args.append:
        return False
    if not args.log:
        raise UserError("--append needs --log PATH: the event log to add this run to")
    return True


def cluster_task():
    """This process's task when ``TF_CONFIG`` describes a multi-worker cluster."""
    from kmon.engine.training.distribute import cluster_task

    return cluster_task()


def run_name(target) -> str:
    """The name default log files get: with the worker's task on a cluster, so that
    workers sharing a folder (NFS) never write the same file."""
    task = cluster_task()
    if task is None:
        return target.name
    return f"{os.path.splitext(target.name)[0]}-{task.label}"


def _say(*paragraphs: str) -> None:
    from kmon.engine.headless.reporter import prose

    for paragraph in paragraphs:
        print(prose(paragraph))
    sys.stdout.flush()
