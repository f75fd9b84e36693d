"""`kmon replay`: a recorded run in the monitor, or its summary."""

from __future__ import annotations

import argparse
import os
import sys

from kmon.errors import UserError, warn_unread
from kmon.terminal_check import has_terminal


def replay(args: argparse.Namespace) -> int:
    """`kmon replay PATH`: the recorded run in the monitor, or its summary headless."""
    if not os.path.exists(args.path):
        raise UserError(f"no such event log: {args.path}")
    if has_terminal() and not args.headless and _is_event_log(args.path):
        return _replay_in_monitor(args.path)
    from kmon.engine.log.importers import UnreadableLog, load_any
    try:
        events, report = load_any(args.path)
    except UnreadableLog as exc:
        raise UserError(str(exc)) from None
    except OSError as exc:
        raise UserError(f"cannot read {args.path}: {exc.strerror}") from None
    if not events:
        raise UserError(f"no kmon events in {args.path}")
    warn_unread(report, args.path)
    if args.headless or not has_terminal():
        from kmon.engine.headless.reporter import HeadlessReporter

        reporter = HeadlessReporter(sys.stdout, sys.stderr, log_path=args.path)
        reporter.handle(events)
        reporter.finish()
        return 0
    from kmon.engine.log.sources import RecordedSource
    from kmon.tui.app import MonitorApp
    from kmon.tui.launch import run_app

    _, signalled = run_app(MonitorApp(RecordedSource(events)))
    return signalled or 0


def _is_event_log(path: str) -> bool:
    """A kmon event log rather than a file or folder ``load_any`` imports."""
    return os.path.isfile(path) and not path.lower().endswith(".csv")


def _replay_in_monitor(path: str) -> int:
    """A kmon event log in the monitor. The first frame shows a fraction of a second
    after start, whatever the log's size; the rest is read while on screen. The log
    is opened before the monitor's modules are imported: a long log's worker
    process starts meanwhile."""
    from kmon.engine.log.sources import LogFileSource

    source = None
    try:
        source = LogFileSource(path)
        found = source.has_events()
    except OSError as exc:
        if source is not None:
            source.close()
        raise UserError(f"cannot read {path}: {exc.strerror}") from None
    if not found:
        source.close()
        raise UserError(f"no kmon events in {path}")
    from kmon.tui.app import MonitorApp
    from kmon.tui.launch import run_app

    try:
        _, signalled = run_app(MonitorApp(source))
    finally:
        source.close()  # a log's worker, if it was quit before the end
    warn_unread(source.report, path)
    return signalled or 0
