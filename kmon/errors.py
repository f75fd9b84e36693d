"""How a kmon command tells its user what went wrong: one line on stderr, named kmon."""

from __future__ import annotations

import sys

PROG = "kmon"


class UserError(Exception):
    """Bad input: shown as one line, exit code 2."""


def warn_unread(report, path) -> None:
    """One line on stderr saying what a read of ``path`` skipped or found damaged
    (a :class:`~kmon.engine.log.eventlog.LogReadReport`); nothing when it was clean."""
    from kmon.engine.format import printable

    summary = report.summary()
    if summary:
        print(f"{PROG}: {printable(summary)} · in {printable(path)}", file=sys.stderr)
