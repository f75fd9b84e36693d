"""`kmon runs`: the Runs panel as an app, and opening the run it returns (attach,
replay, compare), then back to the table."""

from __future__ import annotations

import os
from pathlib import Path

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.widgets import Footer, Label

from kmon.engine.log.run_files import DEFAULT_RUNS_DIR

from .screens.runs import RunsPanel

#: What a runs app returns: ("attach" | "replay", [log]) or ("compare", [logs]).
RunChoice = tuple[str, list[Path]]


def choice_for_open(message: RunsPanel.OpenRun) -> RunChoice:
    return ("attach" if message.attach else "replay", [message.path])


def choice_for_compare(message: RunsPanel.CompareRuns) -> RunChoice:
    return ("compare", list(message.paths))


class RunsApp(App[RunChoice | None]):
    """Every run in a live table; returns the run to open, or None to quit."""

    TITLE = "kmon runs"
    BINDINGS = [Binding("q", "quit", "Quit")]
    CSS = """
    #runs-title { height: 1; background: $panel; padding: 0 1; width: 100%; }
    """

    def __init__(self, runs_dir: str | os.PathLike = DEFAULT_RUNS_DIR, **panel_options) -> None:
        super().__init__()
        self.runs_dir = runs_dir
        self._panel_options = panel_options
        self.close_request: str | None = None
        """Set from a signal handler to close the app at the next check."""

    def compose(self) -> ComposeResult:
        yield Label("[b]kmon[/b] · runs: Enter opens · space marks · c compares", id="runs-title")
        yield RunsPanel(self.runs_dir, **self._panel_options)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("RunsTable").focus()
        self.set_interval(0.1, self._check_close_request)

    def _check_close_request(self) -> None:
        if self.close_request is not None:
            self.exit(None)

    def on_runs_panel_open_run(self, message: RunsPanel.OpenRun) -> None:
        self.exit(choice_for_open(message))

    def on_runs_panel_compare_runs(self, message: RunsPanel.CompareRuns) -> None:
        self.exit(choice_for_compare(message))


def open_run(choice: RunChoice, *, mouse: bool = True) -> int | None:
    """Open what a runs table chose, in the monitor, until the user leaves it.

    ``compare`` opens the compare screen on the chosen logs (at most
    :data:`~kmon.engine.log.compare_inputs.MAX_RUNS`, the first ones marked), as
    ``kmon compare`` does.

    Returns:
        The exit code a signal calls for, else None.
    """
    from kmon.engine.log.runs_folder import read_run
    from kmon.engine.log.sources import FollowSource, LogFileSource

    from .app import MonitorApp
    from .attach_app import AttachedMonitorApp
    from .launch import run_app

    kind, paths = choice
    if kind == "compare":
        return _compare(paths, mouse=mouse)
    path = paths[0]
    if kind == "attach":
        info = read_run(path)
        if info is not None and info.running:
            _, signalled = run_app(
                AttachedMonitorApp(FollowSource(path, info.identity)), mouse=mouse
            )
            return signalled
    try:
        source = LogFileSource(path)
        if not source.has_events():
            return None
    except OSError:
        return None
    try:
        _, signalled = run_app(MonitorApp(source), mouse=mouse)
    finally:
        source.close()  # a log's worker, if it was quit before the end
    return signalled


def _compare(paths, *, mouse: bool) -> int | None:
    from kmon.engine.log.compare_inputs import MAX_RUNS, open_inputs
    from kmon.engine.view.compare import fold_runs

    from .launch import run_app
    from .screens.compare import CompareApp

    # A log deleted or emptied since it was marked is left out, never a crash.
    comparison, _problems = fold_runs(open_inputs([str(path) for path in paths[:MAX_RUNS]], None))
    if not comparison.runs:
        return None
    _, signalled = run_app(CompareApp(comparison), mouse=mouse)
    return signalled


def show_runs(runs_dir: str | os.PathLike, *, mouse: bool = True) -> int:
    """`kmon runs`: the table until the user quits; each run opened returns here."""
    from .launch import run_app

    while True:
        choice, signalled = run_app(RunsApp(runs_dir), mouse=mouse)
        if signalled is not None:
            return signalled
        if not choice:
            return 0
        signalled = open_run(choice, mouse=mouse)
        if signalled is not None:
            return signalled
