"""What every kmon command shares: its name, the one-line error for bad input, and
whether a monitor can run on this terminal."""

from __future__ import annotations

import argparse
import sys

PROG = "kmon"


class UserError(Exception):
    """Bad input: shown as one line, exit code 2."""


def has_terminal() -> bool:
    """Whether a monitor can run here: stdin and stdout on a terminal that
    understands escape sequences (not ``TERM=dumb``)."""
    from kmon.engine.run.terminal import live_terminal_problem

    return live_terminal_problem() is None


def runs_headless(args: argparse.Namespace) -> bool:
    """Whether this run goes without the live monitor: asked for, or there is no
    terminal that can show it. Someone at a terminal that cannot (``TERM=dumb``,
    ``> out.log``) is told why, in one line; without a terminal at all (CI, cron,
    ``--detach``) headless is silent, as usual."""
    if getattr(args, "headless", False):
        return True
    from kmon.engine.run.terminal import is_terminal, live_terminal_problem

    problem = live_terminal_problem()
    if problem is None:
        return False
    if any(is_terminal(stream) for stream in (sys.stdin, sys.stdout, sys.stderr)):
        print(f"{PROG}: {problem}: no live monitor, running headless", file=sys.stderr)
    return True


def appends_to_log(args: argparse.Namespace) -> bool:
    """Whether ``--append`` was given, which needs ``--log``."""
    if not getattr(args, "append", False):
        return False
    if not getattr(args, "log", None):
        raise UserError("--append needs --log PATH: the event log to add this run to")
    return True


def warn_unread(report, path) -> None:
    """One line on stderr saying what a read of ``path`` skipped or found damaged
    (a :class:`~kmon.engine.log.eventlog.LogReadReport`); nothing when it was clean."""
    from kmon.engine.format import printable

    summary = report.summary()
    if summary:
        print(f"{PROG}: {printable(summary)} · in {printable(path)}", file=sys.stderr)
