"""The ``kmon`` command."""

from __future__ import annotations

import argparse
import os
import signal
import sys

from kmon import __version__
from kmon.command_line import (  # noqa: F401 - re-exported for callers of kmon.cli
    PROG,
    UserError,
    appends_to_log,
    has_terminal,
    runs_headless,
    warn_unread,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="A terminal training monitor for Keras 3 / TensorFlow. "
        "Without a command, runs the default bundled scenario.",
    )
    parser.add_argument("--version", action="version", version=f"kmon {__version__}")
    parser.add_argument(
        "--from",
        dest="from_dir",
        metavar="DIR",
        help="also offer the scenarios defined in DIR/*.py (see README: your own scenarios)",
    )
    parser.add_argument(
        "--runs-dir", metavar="DIR", default="kmon-runs", help="folder for event logs"
    )
    parser.add_argument("--no-mouse", action="store_true", help="do not capture the mouse")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    train = commands.add_parser(
        "train",
        help="run a training script under the monitor",
        description="Run an unmodified Keras training script under the live monitor. "
        "kmon's options go before the script; everything after it is the script's.",
    )
    _add_run_options(train)
    train.add_argument(
        "--keras-verbose",
        action="store_true",
        help="keep Keras's own progress output in headless mode (off by default: "
        "kmon prints one line per epoch)",
    )
    train.add_argument(
        "--eval-train",
        action="store_true",
        help="evaluate the model on its training data at every epoch end (final weights, "
        "no dropout) and show it beside History's loss; costs one evaluate() per epoch",
    )
    train.add_argument("script", help="the Python script to run")
    script_args = train.add_argument(
        "args", nargs=argparse.REMAINDER, help="arguments for the script"
    )
    # Python < 3.12 counts a REMAINDER positional as required, so a missing script
    # was reported as "required: script, args".
    script_args.required = False

    run = commands.add_parser("run", help="run a bundled scenario")
    _add_run_options(run)
    run.add_argument("name", help="scenario name (see `kmon list`)")
    run.add_argument("--variant", help="scenario variant (default: its first)")
    # SUPPRESS: without --from here, `kmon --from DIR run NAME` keeps the DIR given
    # before the command (a default of None would silently replace it).
    run.add_argument(
        "--from",
        dest="from_dir",
        metavar="DIR",
        default=argparse.SUPPRESS,
        help="look for NAME in DIR/*.py too",
    )

    listing = commands.add_parser("list", help="list the bundled scenarios and their variants")
    listing.add_argument(
        "--from",
        dest="from_dir",
        metavar="DIR",
        default=argparse.SUPPRESS,
        help="list the scenarios in DIR/*.py too",
    )

    runs_help = "folder of the runs' event logs (default: ./kmon-runs)"
    ps = commands.add_parser("ps", help="list runs: running, finished, failed, stale")
    ps.add_argument("--runs-dir", metavar="DIR", default="kmon-runs", help=runs_help)
    attach = commands.add_parser(
        "attach", help="open the live monitor on a running run (q detaches, x stops it)"
    )
    attach.add_argument("run", nargs="?", help="run id or prefix (default: the newest running)")
    attach.add_argument("--runs-dir", metavar="DIR", default="kmon-runs", help=runs_help)
    attach.add_argument("--no-mouse", action="store_true", help="do not capture the mouse")
    stop = commands.add_parser("stop", help="ask a running run to stop gracefully")
    stop.add_argument("run", help="run id or prefix (see `kmon ps`)")
    stop.add_argument("--runs-dir", metavar="DIR", default="kmon-runs", help=runs_help)

    replay = commands.add_parser("replay", help="show a recorded event log in the monitor")
    replay.add_argument(
        "path",
        help="a kmon event log (.jsonl), a Keras CSVLogger file (.csv) or a TensorBoard "
        "log directory",
    )
    replay.add_argument("--headless", action="store_true", help="print a summary instead")
    return parser


def _add_run_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--headless",
        action="store_true",
        help="no monitor: pass the output through and print one line per epoch, fast "
        "epochs sharing one "
        "(automatic when there is no terminal)",
    )
    parser.add_argument(
        "--quiet",
        action="store_true",
        help="headless, printing only the final summary (implies --headless): no fit or "
        "epoch lines; the script's output, kmon's warnings, alarms and failures still print",
    )
    parser.add_argument(
        "--log",
        metavar="PATH",
        help="event log file (JSON Lines); must not exist yet, unless --append is given",
    )
    parser.add_argument(
        "--append",
        action="store_true",
        help="add this run to the existing kmon event log --log names (e.g. a run resumed "
        "from a checkpoint: replay shows both as one history)",
    )
    parser.add_argument(
        "--runs-dir",
        metavar="DIR",
        default="kmon-runs",
        help="folder for event logs when --log is not given (default: ./kmon-runs)",
    )
    parser.add_argument("--no-mouse", action="store_true", help="do not capture the mouse")
    parser.add_argument(
        "--detach",
        action="store_true",
        help="run in the background, in its own session (survives logout and SSH drops); "
        "prints the run id; see `kmon ps`, `kmon attach`, `kmon stop`",
    )
    parser.add_argument(
        "--stop-on-nan",
        action="store_true",
        help="stop training as soon as the loss is NaN or Inf (the nan_loss alarm fires "
        "either way)",
    )


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.raw_argv = argv
    try:
        if args.command is None and has_terminal():
            return _menu(args)
        if args.command in (None, "run"):
            return _run_scenario(args)
        if args.command == "train":
            return _train(args)
        if args.command == "list":
            return _list(args)
        if args.command == "replay":
            from kmon.replay_cli import replay

            return replay(args)
        if args.command in ("ps", "attach", "stop"):
            from kmon import runs_cli

            return getattr(runs_cli, args.command)(args)
    except UserError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`kmon ps | head -1`): stop quietly, as cat does. Point
        # stdout at /dev/null so the interpreter's last flush does not fail again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return 128 + signal.SIGPIPE
    raise AssertionError(args.command)


def _train(args: argparse.Namespace) -> int:
    from kmon.engine.errors import ScriptError
    from kmon.engine.run.runner import ScriptTarget

    try:
        target = ScriptTarget.checked(args.script, args.args)
    except ScriptError as exc:
        raise UserError(str(exc)) from None
    headless = args.quiet or runs_headless(args)
    task = _cluster_task()
    if task is not None and not task.is_chief and not headless:
        # Only the chief streams to a monitor: other workers log and never wait on one.
        print(
            f"{PROG}: {task.label} of a {task.workers}-worker tf.distribute cluster (TF_CONFIG) "
            "is not the chief: running headless (attach to the chief's run to watch)",
            file=sys.stderr,
        )
        headless = True
    quiet = not (headless and args.keras_verbose)
    return _launch(
        target, args, headless=headless, quiet_keras=quiet, evaluate_training_data=args.eval_train
    )


def _cluster_task():
    """This process's task when ``TF_CONFIG`` describes a multi-worker cluster."""
    from kmon.engine.training.distribute import cluster_task

    return cluster_task()


def _run_name(target) -> str:
    """The name default log files get: with the worker's task on a cluster, so that
    workers sharing a folder (NFS) never write the same file."""
    task = _cluster_task()
    if task is None:
        return target.name
    return f"{os.path.splitext(target.name)[0]}-{task.label}"


def _scenarios(args: argparse.Namespace) -> dict:
    """The bundled scenarios, plus (and overridden by) those of ``--from DIR``."""
    from kmon.scenarios import SCENARIOS, ScenarioFolderError, load_folder

    if not getattr(args, "from_dir", None):
        return dict(SCENARIOS)
    try:
        return {**SCENARIOS, **load_folder(args.from_dir)}
    except ScenarioFolderError as exc:
        raise UserError(str(exc)) from None


def _run_scenario(args: argparse.Namespace) -> int:
    from kmon.engine.run.runner import CallableTarget
    from kmon.scenarios import DEFAULT_SCENARIO, UnknownScenario, find

    name = getattr(args, "name", None) or DEFAULT_SCENARIO
    try:
        scenario, variant = find(name, getattr(args, "variant", None), among=_scenarios(args))
    except UnknownScenario as exc:
        raise UserError(str(exc)) from None
    headless = getattr(args, "quiet", False) or runs_headless(args)
    return _launch(
        CallableTarget.for_scenario(scenario, variant),
        args,
        headless=headless,
        quiet_keras=True,
        evaluate_training_data=scenario.evaluate_training_data,
        scenario=(scenario, variant),
    )


def _menu(args: argparse.Namespace) -> int:
    from kmon.engine.run.runner import CallableTarget
    from kmon.tui.menu import MenuFailed, run_menu

    def make_session(scenario, variant):
        return _session(
            CallableTarget.for_scenario(scenario, variant),
            args,
            quiet_keras=True,
            evaluate_training_data=scenario.evaluate_training_data,
        )

    try:
        return run_menu(_scenarios(args), make_session, mouse=not args.no_mouse)
    except MenuFailed as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 1


def _launch(
    target,
    args: argparse.Namespace,
    *,
    headless: bool,
    quiet_keras: bool,
    evaluate_training_data: bool = False,
    scenario: tuple | None = None,
) -> int:
    from kmon.engine.headless import run_headless

    if getattr(args, "detach", False):
        from kmon.runs_cli import detach

        return detach(args, _run_name(target))
    session = _session(
        target, args, quiet_keras=quiet_keras, evaluate_training_data=evaluate_training_data
    )
    if headless:
        quiet = getattr(args, "quiet", False)
        if scenario is None or quiet:
            return run_headless(session, quiet=quiet)
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

    mouse = not getattr(args, "no_mouse", False)
    if scenario is None:
        return run_tui(session, mouse=mouse)
    from functools import partial

    from kmon.tui.scenario_app import ScenarioMonitorApp

    factory = partial(ScenarioMonitorApp, scenario=scenario[0], variant=scenario[1])
    return run_tui(session, mouse=mouse, app_factory=factory)


def _say(*paragraphs: str) -> None:
    from kmon.engine.headless.reporter import prose

    for paragraph in paragraphs:
        print(prose(paragraph))
    sys.stdout.flush()


def _session(target, args: argparse.Namespace, *, quiet_keras: bool, evaluate_training_data: bool):
    from kmon.engine.log.eventlog import default_log_path
    from kmon.engine.log.run_files import LogFileError, LogFileExists
    from kmon.engine.run.session import Session

    log = getattr(args, "log", None)
    runs_dir = getattr(args, "runs_dir", "kmon-runs")
    append = appends_to_log(args)
    while True:
        log_path = log or default_log_path(_run_name(target), runs_dir)
        try:
            return Session(
                target,
                log_path,
                quiet_keras=quiet_keras,
                evaluate_training_data=evaluate_training_data,
                stop_on_nan=getattr(args, "stop_on_nan", False),
                append=append,
            )
        except LogFileExists as exc:
            if log:
                raise UserError(str(exc)) from None
            # A default name taken between the choice and the open: choose again.
        except LogFileError as exc:
            raise UserError(str(exc)) from None
        except OSError as exc:
            raise UserError(f"cannot write the event log {log_path}: {exc.strerror}") from None


def _list(args: argparse.Namespace) -> int:
    from kmon.engine.format import printable

    # A user scenario's texts come from its file (--from DIR): printed as text only.
    for scenario in _scenarios(args).values():
        print(f"{printable(scenario.name)}: {printable(scenario.title)}")
        print(f"    {printable(scenario.question)}")
        for variant, description in scenario.variants.items():
            print(f"    --variant {printable(variant)}: {printable(description)}")
    return 0
