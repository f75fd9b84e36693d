"""`kmon compare A B ...`: up to 8 runs side by side, or their table headless."""

from __future__ import annotations

import argparse
import shutil
import sys

from kmon.errors import PROG, UserError
from kmon.terminal_check import has_terminal


def compare(args: argparse.Namespace) -> int:
    """Read every input (one line on stderr for each that is not a run), then show
    the compare screen, or print the runs' table when headless. At least one run
    must remain: with none, exit 2."""
    from kmon.engine.format import printable
    from kmon.engine.log.compare_inputs import MAX_RUNS, open_inputs
    from kmon.engine.view.compare import fold_runs

    if len(args.runs) > MAX_RUNS:
        raise UserError(f"compare takes at most {MAX_RUNS} runs, not {len(args.runs)}")
    # Each log is folded while it is read: its events are never all in memory.
    comparison, problems = fold_runs(open_inputs(args.runs, args.runs_dir))
    for problem in problems:
        print(f"{PROG}: {printable(problem)}", file=sys.stderr)
    if not comparison.runs:
        raise UserError("no runs to compare")
    if args.headless or not has_terminal():
        # On a terminal, a table too wide for it turns its metrics into rows.
        width = shutil.get_terminal_size().columns if sys.stdout.isatty() else None
        print(comparison.report(width))
        return 0
    from kmon.tui.launch import run_app
    from kmon.tui.screens.compare import CompareApp

    _, signalled = run_app(CompareApp(comparison), mouse=not args.no_mouse)
    return signalled or 0
