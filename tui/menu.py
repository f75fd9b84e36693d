"""The front door: the scenario menu, runs started from it, and back again."""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import partial

from rich.console import Console

from kmon.engine.run.capture import OutputCapture
from kmon.engine.run.session import Session
from kmon.engine.run.terminal import drawing_stream
from kmon.engine.run.terminal_guard import terminal_lost
from kmon.scenarios.base import Scenario

from .launch import run_app, run_tui
from .menu_app import FrameworkPreloader, MenuApp
from .runs_app import open_run
from .scenario_app import MenuScenarioMonitorApp
from .screens.compare import FinishedRun


class MenuFailed(RuntimeError):
    """The menu app itself crashed; its traceback was printed."""


def run_menu(
    scenarios: dict[str, Scenario],
    make_session: Callable[[Scenario, str], Session],
    *,
    mouse: bool = True,
    runs_dir: str = "kmon-runs",
) -> int:
    """Show the menu until the user quits; each choice runs live, then returns here.

    Args:
        scenarios: what the menu offers.
        make_session: builds the session for a chosen scenario and variant.
        mouse: let the apps capture the mouse.
        runs_dir: the runs folder the Runs tab shows beside the runs index.
    """
    preloader = FrameworkPreloader()
    runs: list[FinishedRun] = []
    while True:
        app = MenuApp(scenarios, runs, preloader, runs_dir=runs_dir)
        choice, signalled = _show_menu(app, mouse)
        if signalled is not None:
            return signalled
        if not choice:
            return 0
        if isinstance(choice[1], list):  # the Runs tab: a run to open, then back here
            signalled = open_run(choice, mouse=mouse)
            if signalled is not None:
                return signalled
            continue
        name, variant = choice
        scenario = scenarios[name]
        session = make_session(scenario, variant)
        app_factory = partial(MenuScenarioMonitorApp, scenario=scenario, variant=variant)
        code = run_tui(session, mouse=mouse, app_factory=app_factory, report=False)
        runs.append(FinishedRun(name, variant, session.log_path, session.status or "stopped"))
        if terminal_lost():
            # The run was finished headless after the hang-up; nobody is left to
            # see a menu, and its input would read end of file forever.
            return code


def _show_menu(app: MenuApp, mouse: bool) -> tuple[object, int | None]:
    # TensorFlow loads in the background while the menu shows and writes its C++
    # logging straight to fd 2: keep it off the screen (it belongs to no run).
    capture = OutputCapture(lambda event: None)
    capture.start()
    sys.__stdout__ = capture.terminal_out
    sys.__stderr__ = drawing_stream(capture.terminal_err, capture.terminal_out)
    app.error_console = Console(file=capture.terminal_err, markup=False, highlight=False)
    terminal_fds = [0, capture.terminal_out.fileno(), capture.terminal_err.fileno()]
    try:
        choice, signalled = run_app(app, mouse=mouse, terminal_fds=terminal_fds)
    finally:
        capture.stop()
    if app.return_code:
        raise MenuFailed("the menu failed (error above)")
    return choice, signalled
