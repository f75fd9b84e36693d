"""Runs a session under the live monitor and hands the terminal back cleanly."""

from __future__ import annotations

import sys
from collections.abc import Callable

from rich.console import Console

from kmon.engine.hangup import TerminalGuard
from kmon.engine.session import Session, follow_headless
from kmon.engine.sources import LiveSource

from .app import MonitorApp

#: How long to wait for a stopping run before giving up on it at exit.
STOP_GRACE_SECONDS = 30.0


def run_tui(
    session: Session,
    *,
    mouse: bool = True,
    app_factory: Callable[..., MonitorApp] = MonitorApp,
    report: bool = True,
) -> int:
    """Run ``session`` live in the monitor; return the run's exit code.

    The script's output is captured into log events, so the monitor owns the
    terminal. When the app exits the terminal is restored and, with ``report``, one
    summary line is printed (plus the traceback of a failed script).

    If the terminal hangs up (SSH dropped), the monitor closes without writing
    anything and training goes on to the end with its log. If the monitor itself
    fails, training goes on headless. SIGTERM asks training to stop gracefully.

    Args:
        session: the run, not started yet.
        mouse: let the monitor capture the mouse.
        app_factory: builds the app from ``(source, on_ready=...)``.
        report: print the summary after the monitor closes.
    """
    session.start(open_gate=False)
    capture = session.capture
    if capture is not None:
        # Textual draws on sys.__stderr__ and sizes itself from sys.__stdout__; both
        # now lead into the capture pipes. Point them at the real terminal;
        # capture.stop() restores them.
        sys.__stdout__, sys.__stderr__ = capture.terminal_out, capture.terminal_err

    def on_ready() -> None:
        if capture is not None:
            capture.install_python_streams()
        session.gate.set()

    app = app_factory(LiveSource(session), on_ready=on_ready)
    if capture is not None:
        # A crash of the monitor itself must reach the user, not the capture pipe.
        app.error_console = Console(file=capture.terminal_err, markup=False, highlight=False)

    def on_hangup() -> None:
        app.close_request = "hangup"

    guard = TerminalGuard(
        session.terminal_fds(), on_hangup=on_hangup, on_terminate=session.run.request_stop
    )
    with guard:
        try:
            result = app.run(mouse=mouse)
        finally:
            session.gate.set()
    if guard.hung_up or app.return_code:
        # The monitor is gone, training is not: finish it headless, log intact.
        if not guard.hung_up:
            print(
                f"kmon: the monitor failed (error above); training goes on headless · "
                f"log: {session.log_path}",
                file=sys.stderr,
            )
        return follow_headless(session, state=app.state)
    if result != "abandon" and not session.run.finished.is_set():
        session.run.request_stop()
        session.run.join(STOP_GRACE_SECONDS)
    if session.run.finished.is_set():
        session.close()
    else:
        session.abandon()
    if not report:
        return 130 if result == "abandon" else (session.run.exit_code or 0)
    return _report(session, app, abandoned=result == "abandon")


def _report(session: Session, app: MonitorApp, *, abandoned: bool) -> int:
    run = session.run
    if abandoned and not run.finished.is_set():
        print(f"kmon: quit before the run ended (stopped) · log: {session.log_path}")
        return 130
    status, code = run.status or "stopped", run.exit_code or 0
    print(f"kmon: run {status} (exit code {code}) · log: {session.log_path}")
    if run.error:
        sys.stderr.write(run.error.get("traceback") or run.error.get("message", "") + "\n")
    # What came after the monitor closed, e.g. closing found the event log incomplete.
    app.state.apply_all(session.channel.drain())
    for notice in app.state.notices:
        print(f"kmon: {notice.level}: {notice.text}")
    return code
