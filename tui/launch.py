"""Runs a session under the live monitor and hands the terminal back cleanly."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from rich.console import Console
from rich.text import Text
from textual.app import App

from kmon.engine.format import printable
from kmon.engine.log.sources import LiveSource
from kmon.engine.run.terminal import (
    ExitHook,
    LossTolerantStream,
    TerminalModes,
    drawing_stream,
)
from kmon.engine.run.terminal_guard import TerminalGuard

from .app import MonitorApp

if TYPE_CHECKING:
    # A live run's modules (the session, the system sampler with psutil, the
    # headless loop) are imported when one runs: a replay's first frame needs none.
    from kmon.engine.run.session import Session

#: How long to wait for a stopping run before giving up on it at exit.
STOP_GRACE_SECONDS = 30.0
#: The script's last lines of output printed after the monitor closes.
OUTPUT_TAIL_LINES = 20


def run_tui(
    session: Session,
    *,
    mouse: bool = True,
    app_factory: Callable[..., MonitorApp] = MonitorApp,
    report: bool = True,
    notify: bool = True,
) -> int:
    """Run ``session`` live in the monitor; return the run's exit code.

    The script's output is captured into log events and its stdin is at end of file
    (see :mod:`kmon.engine.run.script_stdin`), so the monitor owns the terminal. When the
    app exits the terminal is restored and, with ``report``, one summary line is
    printed (plus the traceback of a failed script).

    If the terminal hangs up (SSH dropped), the monitor closes without writing
    anything and training goes on to the end with its log. If the monitor itself
    fails, training goes on headless. SIGTERM (or an outside SIGINT) stops training
    as ``q`` then yes does, and kmon exits once the run has ended; a second one exits
    at once. If the script calls ``os._exit``, the log is finished and the terminal
    given back first.

    Args:
        session: the run, not started yet.
        mouse: let the monitor capture the mouse.
        app_factory: builds the app from ``(source, on_ready=...)``.
        report: print the summary after the monitor closes.
        notify: ring the bell and send desktop notifications (see
            :mod:`kmon.tui.notifications`); False for ``--no-notify``.
    """
    from kmon.engine.headless import follow_headless
    from kmon.engine.run.script_stdin import MonitorKeyboard

    session.start(open_gate=False)
    captured = session.captures_output
    if captured:
        # Textual draws on sys.__stderr__ and sizes itself from sys.__stdout__; both
        # now lead into the capture pipes. Point them at the real terminal (stdout's,
        # when stderr was redirected to a file); closing the session restores them.
        sys.__stdout__ = session.terminal_out
        sys.__stderr__ = drawing_stream(session.terminal_err, session.terminal_out)
    keyboard = MonitorKeyboard(session.emit)
    keyboard.start()
    modes = TerminalModes(keyboard.fd)

    app = app_factory(LiveSource(session), on_ready=session.open_gate)
    app.notifications.enabled = notify
    if captured:
        # A crash of the monitor itself must reach the user, not the capture pipe.
        app.error_console = Console(file=session.terminal_err, markup=False, highlight=False)

    def on_hangup() -> None:
        app.close_request = "hangup"

    def on_terminate() -> None:
        session.request_stop()
        if guard.terminations > 1:
            app.close_request = "abandon"
        else:
            app.stop_request = True

    def before_os_exit(code: int) -> None:
        session.end_abruptly(code)  # puts descriptors 1 and 2 back as they were
        modes.restore(write_fd=1 if os.isatty(1) else 2)
        print(f"kmon: the script called os._exit({code}) · log: {session.log_path}", flush=True)

    guard = TerminalGuard(
        [*session.terminal_fds(), keyboard.fd],
        on_hangup=on_hangup,
        on_terminate=on_terminate,
        modes=modes,
        draw_fd=_fileno(sys.__stderr__),
        input_fds=(keyboard.fd,),
        sigint_terminates=True,
    )
    # The guard stays until the run is over: a hang-up or a SIGTERM while kmon waits
    # for a stopping run must still be handled, or the log would lose its run_end.
    with guard, ExitHook(before_os_exit):
        try:
            with _lost_terminal_is_a_hang_up(guard):
                result = app.run(mouse=mouse)
        finally:
            session.open_gate()  # a script kept waiting by a monitor that never came up
            keyboard.stop(terminal_gone=guard.hung_up)
        if guard.hung_up or app.return_code:
            # The monitor is gone, training is not: finish it headless, log intact.
            if not guard.hung_up:
                print(
                    f"kmon: the monitor failed (error above); training goes on headless · "
                    f"log: {session.log_path}",
                    file=sys.stderr,
                )
            return follow_headless(session, state=app.state)
        if result != "abandon" and not session.finished:
            session.request_stop()
            _wait_for_stop(session, guard)
        if session.finished:
            session.close()
        else:
            result = "abandon"
            session.abandon()
    if not report:
        return 130 if result == "abandon" else (session.exit_code or 0)
    return _report(session, app, abandoned=result == "abandon")


def _wait_for_stop(session: Session, guard: TerminalGuard) -> None:
    """Up to STOP_GRACE_SECONDS for the run to end; a second SIGTERM ends the wait."""
    terminations = guard.terminations
    waited = 0.0
    while waited < STOP_GRACE_SECONDS and not session.wait(0.1):
        waited += 0.1
        if guard.terminations > max(terminations, 1):
            return


def _fileno(stream) -> int | None:
    try:
        return stream.fileno()
    except (AttributeError, ValueError, OSError):
        return None


def _report(session: Session, app: MonitorApp, *, abandoned: bool) -> int:
    # What came after the monitor closed: the script's last lines, or closing
    # finding the event log incomplete.
    app.state.apply_all(session.drain())
    _print_output_tail(app.state, session.log_path)
    if abandoned and not session.finished:
        print(f"kmon: quit before the run ended (stopped) · log: {session.log_path}")
        return 130
    status, code = session.status or "stopped", session.exit_code or 0
    print(f"kmon: run {status} (exit code {code}) · log: {session.log_path}")
    error = session.error
    if error:
        sys.stderr.write(error.get("traceback") or error.get("message", "") + "\n")
    for notice in app.state.notices:
        print(f"kmon: {notice.level}: {notice.text}")
    return code


def _print_output_tail(state, log_path) -> None:
    """The script's last lines of output, as the Output tab held them, left on the
    terminal once the monitor is gone: a script's final print (a test score, where
    it saved the model) is what its user looks for after quitting. Escape
    sequences are taken out, so no line can leave the terminal in a mode."""
    lines = list(state.log_lines)[-OUTPUT_TAIL_LINES:]
    if not lines:
        return
    total = state.log_total
    whole = "" if len(lines) == total else (
        f" (its last {len(lines)} of {total}; all of them: kmon replay {log_path}, then o)"
    )
    print(f"kmon: the script's output{whole}:")
    for line in lines:
        print(printable(Text.from_ansi(line.text).plain))


def run_app(
    app: App, *, mouse: bool = True, terminal_fds: list[int] | None = None
) -> tuple[object, int | None]:
    """Run an app that has no run of its own (replay, attach, the menu) so that
    SIGTERM, SIGINT and SIGHUP close it through Textual, which gives the terminal
    back. The app must close itself when its ``close_request`` is set.

    Args:
        app: the app.
        mouse: let it capture the mouse.
        terminal_fds: descriptors that reach the terminal (default: 0, 1 and 2).

    Returns:
        The app's result, and the exit code a signal calls for (None if none came).
    """
    modes = TerminalModes(_fileno(sys.__stdin__) or 0)

    def on_hangup() -> None:
        app.close_request = "hangup"

    def on_terminate() -> None:
        app.close_request = "terminate"

    guard = TerminalGuard(
        [0, 1, 2] if terminal_fds is None else terminal_fds,
        on_hangup=on_hangup,
        on_terminate=on_terminate,
        modes=modes,
        draw_fd=_fileno(sys.__stderr__),
        input_fds=(0,),
        sigint_terminates=True,
    )
    with guard:
        with _lost_terminal_is_a_hang_up(guard):
            result = app.run(mouse=mouse)
        _stop_input_thread(app)
    if guard.hung_up:
        return result, 128 + signal.SIGHUP
    if guard.last_signal is not None:
        return result, 128 + guard.last_signal
    return result, None


@contextmanager
def _lost_terminal_is_a_hang_up(guard: TerminalGuard) -> Iterator:
    """While an app runs, a write the terminal refuses is taken for the hang-up it
    is: the descriptors go quiet and the app closes, as on SIGHUP, which may come
    after that write or, under ``nohup``, never (:class:`LossTolerantStream` says
    why a refused write must not reach Textual). Textual's driver takes
    ``sys.__stderr__`` as the app starts."""
    drawn = sys.__stderr__
    sys.__stderr__ = LossTolerantStream(drawn, guard.hang_up)
    try:
        yield
    finally:
        sys.__stderr__ = drawn


def _stop_input_thread(app: App) -> None:
    """Make sure the driver's input thread ends once the app has.

    After a hang-up the terminal's descriptor is a pipe at end of file, always
    readable. Textual stops its input thread in ``disable_input``, which swallows
    any error raised before it sets the thread's exit event; a thread that missed
    it spins on that pipe forever, and being a non-daemon thread it keeps kmon
    alive at most of a core (seen once in two or three ``tmux kill-window``s of a
    replay). The event is only read by that thread's loop: setting it again is
    harmless when the thread already ended.
    """
    driver = getattr(app, "_driver", None)
    exit_event = getattr(driver, "exit_event", None)
    if exit_event is not None:
        exit_event.set()
