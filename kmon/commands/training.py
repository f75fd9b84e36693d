"""`kmon train`: an unmodified Keras training script, run under the monitor."""

from __future__ import annotations

import argparse
import sys

from kmon.commands.launch import cluster_task, launch
from kmon.errors import PROG, UserError
from kmon.terminal_check import runs_headless


def train(args: argparse.Namespace) -> int:
    """Check the script (or ``-m``'s module), choose live or headless (only a cluster's chief streams to a
    monitor), and run it."""
    from kmon.engine.errors import ScriptError
    from kmon.engine.run.targets import ModuleTarget, ScriptTarget

    try:
        if args.module is not None:
            if not args.module:
                args.train_parser.error("argument -m: expected a module name")
            target = ModuleTarget.checked(args.module[0], args.module[1:])
        elif args.script is None:
            args.train_parser.error("the following arguments are required: script")
        else:
            target = ScriptTarget.checked(args.script, args.args)
    except ScriptError as exc:
        raise UserError(str(exc)) from None
    headless = args.quiet or runs_headless(args.headless)
    task = cluster_task()
    if task is not None and not task.is_chief and not headless:
        # Only the chief streams to a monitor: other workers log and never wait on one.
        print(
            f"{PROG}: {task.label} of a {task.workers}-worker tf.distribute cluster (TF_CONFIG) "
            "is not the chief: running headless (attach to the chief's run to watch)",
            file=sys.stderr,
        )
        headless = True
    quiet = not (headless and args.keras_verbose)
    return launch(
        target, args, headless=headless, quiet_keras=quiet, evaluate_training_data=args.eval_train
    )
