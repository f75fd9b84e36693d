"""Whether the live monitor can run on this terminal, and saying so when it cannot."""

from __future__ import annotations

import sys

from kmon.errors import PROG


def has_terminal() -> bool:
    """Whether a monitor can run here: stdin and stdout on a terminal that
    understands escape sequences (not ``TERM=dumb``)."""
    from kmon.engine.run.terminal import live_terminal_problem

    return live_terminal_problem() is None


def runs_headless(asked: bool) -> bool:
    """Whether this run goes without the live monitor: ``asked`` (``--headless``),
    or there is no terminal that can show it. Someone at a terminal that cannot
    (``TERM=dumb``, ``> out.log``) is told why, in one line; without a terminal at
    all (CI, cron, ``--detach``) headless is silent, as usual."""
    if asked:
        return True
    from kmon.engine.run.terminal import is_terminal, live_terminal_problem

    problem = live_terminal_problem()
    if problem is None:
        return False
    if any(is_terminal(stream) for stream in (sys.stdin, sys.stdout, sys.stderr)):
        print(f"{PROG}: {problem}: no live monitor, running headless", file=sys.stderr)
    return True
