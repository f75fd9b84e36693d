"""`kmon export RUN --csv|--json [--batches] [-o FILE]`: a run's table, for a notebook."""

from __future__ import annotations

import argparse
import sys

from kmon.errors import UserError, warn_unread


def export(args: argparse.Namespace) -> int:
    """Write the run's epoch table (or every batch) to FILE or stdout."""
    from kmon.engine.log.compare_inputs import load_inputs
    from kmon.engine.view.export import batch_table, epoch_table, write_csv, write_json

    loaded, problems = load_inputs([args.run], args.runs_dir)
    if not loaded:
        raise UserError(problems[0])
    run = loaded[0]
    warn_unread(run.report, run.path)
    columns, rows = (batch_table if args.batches else epoch_table)(run.events)
    write = write_csv if args.format == "csv" else write_json
    if args.output is None:
        write(columns, rows, sys.stdout)
        return 0
    try:
        with open(args.output, "w", encoding="utf-8", newline="") as out:
            write(columns, rows, out)
    except OSError as exc:
        raise UserError(f"cannot write {args.output}: {exc.strerror}") from None
    return 0
