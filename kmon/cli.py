"""The ``kmon`` command line: its options and commands, each command's handler, and
``main``, which runs the handler and turns bad input into one line on stderr."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Callable
from typing import NoReturn

from kmon import __version__
from kmon.engine.log.run_files import DEFAULT_RUNS_DIR
from kmon.errors import PROG, UserError


def main(argv: list[str] | None = None) -> int:
    """Run the command ``argv`` (default: this process's arguments) names; returns
    the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.raw_argv = argv  # `--detach` starts the same command again, headless
    code = _run(args)
    # A script's threads given up by a stop would keep the process alive: Python
    # waits for every thread that is no daemon at exit. Loaded only if a run ran.
    threads = sys.modules.get("kmon.engine.run.script_threads")
    if threads is not None:
        threads.exit_leaving_threads(code)
    return code


def _run(args: argparse.Namespace) -> int:
    """The command's handler, its errors turned into an exit code."""
    try:
        return args.handler(args)
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


def _handler(module: str, name: str) -> Callable[[argparse.Namespace], int]:
    """``kmon.commands.<module>.<name>``, imported when its command runs: a command
    imports only its own modules (``kmon replay``'s first frame waits for every
    import before it)."""

    def run(args: argparse.Namespace) -> int:
        # __import__, not importlib.import_module: -X importtime sees it.
        return getattr(__import__(f"kmon.commands.{module}", fromlist=[name]), name)(args)

    run.__qualname__ = run.__name__ = f"{module}.{name}"
    return run


class _OneLineParser(argparse.ArgumentParser):
    """argparse, but bad input gets one line, as every other kmon error does.

    argparse's default prints the whole usage block before the error: on a narrow
    SSH terminal that is a screenful for a typo. The usage stays one ``--help`` away.
    """

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``kmon [OPTIONS] [COMMAND ...]``. Every command sets
    ``handler``, the function that runs it, and every option its handler reads."""
    runs_folder = _runs_folder_option()
    mouse = _mouse_option()
    run_options = _run_options()
    parser = _OneLineParser(
        prog=PROG,
        description="A terminal training monitor for Keras 3 / TensorFlow. "
        "Without a command, runs the default bundled scenario.",
        parents=[_scenario_folder_option(default=None), runs_folder, mouse],
    )
    parser.add_argument("--version", action="version", version=f"kmon {__version__}")
    # `kmon` alone runs a scenario as `kmon run` does, with run's defaults. The
    # commands' namespaces start from these too; their own options replace them.
    parser.set_defaults(
        handler=_handler("scenarios", "without_command"),
        name=None,
        variant=None,
        **vars(run_options.parse_args([])),
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    # SUPPRESS: a command without --from keeps the DIR given before it
    # (`kmon --from DIR run NAME`); a default of None would silently replace it.
    scenario_folder = _scenario_folder_option(default=argparse.SUPPRESS)

    train = commands.add_parser(
        "train",
        parents=[run_options, runs_folder, mouse],
        help="run a training script under the monitor",
        description="Run an unmodified Keras training script under the live monitor. "
        "kmon's options go before the script; everything after it is the script's.",
    )
    _add_train_arguments(train)
    train.set_defaults(handler=_handler("training", "train"), train_parser=train)

    run = commands.add_parser(
        "run",
        parents=[run_options, runs_folder, mouse, scenario_folder],
        help="run a bundled scenario",
    )
    run.add_argument("name", help="scenario name (see `kmon list`)")
    run.add_argument("--variant", help="scenario variant (default: its first)")
    run.set_defaults(handler=_handler("scenarios", "run"))

    listing = commands.add_parser(
        "list", parents=[scenario_folder], help="list the bundled scenarios and their variants"
    )
    listing.add_argument(
        "--json",
        action="store_true",
        help="print the scenarios, their variants and claims as JSON on stdout",
    )
    listing.set_defaults(handler=_handler("scenarios", "list_scenarios"))

    _add_runs_commands(commands, runs_folder, mouse)

    replaying = commands.add_parser("replay", help="show a recorded event log in the monitor")
    replaying.add_argument(
        "path",
        help="a kmon event log (.jsonl), a Keras CSVLogger file (.csv) or a TensorBoard "
        "log directory",
    )
    replaying.add_argument("--headless", action="store_true", help="print a summary instead")
    replaying.set_defaults(handler=_handler("replay", "replay"))
    _add_compare_and_export(commands, runs_folder, mouse)
    return parser


def _add_compare_and_export(commands, runs_folder, mouse) -> None:
    comparing = commands.add_parser(
        "compare", parents=[runs_folder, mouse], help="show up to 8 runs side by side"
    )
    comparing.add_argument(
        "runs",
        nargs="+",
        metavar="RUN",
        help="a kmon event log, a run id (see `kmon ps`), a Keras CSVLogger file or a "
        "TensorBoard log directory",
    )
    comparing.add_argument("--headless", action="store_true", help="print the runs' table")
    comparing.set_defaults(handler=_handler("compare", "compare"))
    exporting = commands.add_parser(
        "export", parents=[runs_folder], help="write a run's epochs (or batches) as CSV or JSON"
    )
    exporting.add_argument("run", metavar="RUN", help="an event log, a run id, a CSV or TB dir")
    form = exporting.add_mutually_exclusive_group(required=True)
    form.add_argument("--csv", action="store_const", const="csv", dest="format")
    form.add_argument("--json", action="store_const", const="json", dest="format")
    exporting.add_argument(
        "--batches", action="store_true", help="every batch instead of every epoch"
    )
    exporting.add_argument("-o", "--output", metavar="FILE", help="write here (default: stdout)")
    exporting.set_defaults(handler=_handler("export", "export"))


def _add_train_arguments(train: argparse.ArgumentParser) -> None:
    """`kmon train`'s own options, then the script and its arguments."""
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
    train.add_argument(
        "--system-interval",
        type=float,
        default=1.0,
        metavar="SECONDS",
        help="seconds between samples of CPU, memory and GPUs for the System tab "
        "(default 1; 0 turns sampling off)",
    )
    train.add_argument(
        "-m",
        dest="module",
        nargs=argparse.REMAINDER,
        metavar="MODULE [ARGS]",
        help="run a module as `python -m MODULE ARGS` does, instead of a script (the "
        "rest of the line is the module's)",
    )
    train.add_argument("script", nargs="?", help="the Python script to run")
    script_args = train.add_argument(
        "args", nargs=argparse.REMAINDER, help="arguments for the script"
    )
    # Python < 3.12 counts a REMAINDER positional as required, so a missing script
    # was reported as "required: script, args".
    script_args.required = False


def _add_runs_commands(commands, runs_folder, mouse) -> None:
    """`kmon ps`, `kmon attach`, `kmon stop`: the runs in ``--runs-dir``."""
    ps = commands.add_parser(
        "ps", parents=[runs_folder], help="list runs: running, finished, failed, stale"
    )
    ps.add_argument(
        "--all",
        action="store_true",
        help="every run of yours, whatever its folder (the per-user runs index)",
    )
    ps.add_argument(
        "--prune",
        action="store_true",
        help="drop the index's stale and missing entries (never deletes a log)",
    )
    ps.set_defaults(handler=_handler("runs", "ps"))
    dashboard = commands.add_parser(
        "runs",
        parents=[runs_folder, mouse],
        help="every run of yours in a live table: open, compare, delete",
    )
    dashboard.set_defaults(handler=_handler("runs", "runs_screen"))
    attach = commands.add_parser(
        "attach",
        parents=[runs_folder, mouse],
        help="open the live monitor on a running run (q detaches, x stops it)",
    )
    attach.add_argument(
        "run",
        nargs="?",
        help="run id or prefix, in --runs-dir or any folder (default: the newest running)",
    )
    attach.add_argument(
        "--no-notify",
        action="store_true",
        help="no terminal bell or desktop notification (OSC 9/777) for the run's end and alarms",
    )
    attach.set_defaults(handler=_handler("runs", "attach"))
    stop = commands.add_parser(
        "stop", parents=[runs_folder], help="ask a running run to stop gracefully"
    )
    stop.add_argument("run", help="run id or prefix, in any folder (see `kmon ps --all`)")
    stop.set_defaults(handler=_handler("runs", "stop"))


def _run_options() -> argparse.ArgumentParser:
    """How `kmon train` and `kmon run` run: live or headless, where the log goes,
    detached or not."""
    options = argparse.ArgumentParser(add_help=False)
    options.add_argument(
        "--headless",
        action="store_true",
        help="no monitor: pass the output through and print one line per epoch, fast "
        "epochs sharing one "
        "(automatic when there is no terminal)",
    )
    options.add_argument(
        "--quiet",
        action="store_true",
        help="headless, printing only the final summary (implies --headless): no fit or "
        "epoch lines; the script's output, kmon's warnings, alarms and failures still print",
    )
    options.add_argument(
        "--log",
        metavar="PATH",
        help="event log file (JSON Lines; default: a new one in --runs-dir); must not exist "
        "yet, unless --append is given",
    )
    options.add_argument(
        "--append",
        action="store_true",
        help="add this run to the existing kmon event log --log names (e.g. a run resumed "
        "from a checkpoint: replay shows both as one history)",
    )
    options.add_argument(
        "--detach",
        action="store_true",
        help="run in the background, in its own session (survives logout and SSH drops); "
        "prints the run id; see `kmon ps`, `kmon attach`, `kmon stop`",
    )
    options.add_argument(
        "--notify-cmd",
        metavar="CMD",
        help="shell command the training process runs when the run ends and when an alarm "
        "is raised, with KMON_EVENT (run_end|alarm), KMON_RUN_ID, KMON_STATUS, KMON_MESSAGE "
        "and KMON_LOG set; killed after 10 s (see docs/long-runs.md)",
    )
    options.add_argument(
        "--no-notify",
        action="store_true",
        help="no terminal bell or desktop notification (OSC 9/777) from the monitor",
    )
    options.add_argument(
        "--stop-on-nan",
        action="store_true",
        help="stop training as soon as the loss is NaN or Inf (the nan_loss alarm fires "
        "either way)",
    )
    return options


def _runs_folder_option() -> argparse.ArgumentParser:
    """``--runs-dir``: where runs keep their logs, for the commands that write or read them."""
    options = argparse.ArgumentParser(add_help=False)
    options.add_argument(
        "--runs-dir",
        metavar="DIR",
        default=DEFAULT_RUNS_DIR,
        help=f"folder of the runs' event logs (default: ./{DEFAULT_RUNS_DIR})",
    )
    return options


def _mouse_option() -> argparse.ArgumentParser:
    """``--no-mouse``, for the commands that open the monitor."""
    options = argparse.ArgumentParser(add_help=False)
    options.add_argument("--no-mouse", action="store_true", help="do not capture the mouse")
    return options


def _scenario_folder_option(*, default) -> argparse.ArgumentParser:
    """``--from DIR``: the user's own scenarios beside the bundled ones.

    Args:
        default: ``from_dir`` when ``--from`` is not given; SUPPRESS keeps the one
            given before the command.
    """
    options = argparse.ArgumentParser(add_help=False)
    options.add_argument(
        "--from",
        dest="from_dir",
        metavar="DIR",
        default=default,
        help="also offer the scenarios defined in DIR/*.py (see docs/scenarios.md)",
    )
    return options
