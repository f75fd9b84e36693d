"""The Runs panel: every run of this user's (the per-user index and the runs
folder) in a live table; open, mark and compare, or delete one.

A reader thread finds the runs (:mod:`kmon.engine.log.run_scan`: a log is read
again only when it changed) and their rows (:mod:`kmon.engine.log.run_rows`: only
what each log gained), and posts all the rows in one message; a post waits until
the previous one was shown, so the table never falls behind on stale rows.

The first table comes from the index and the logs' two ends, plus whole digests
(best val_loss, alarms) for as many logs as ``FIRST_DIGEST_SECONDS`` of CPU allow,
newest first as the table opens sorted. Then a pass every ``refresh_seconds`` (2 s)
digests the rows on screen first, for at most ``DIGEST_BUDGET_SECONDS`` of CPU, and
reads only the logs whose size or time changed: at most a tenth of a core while a
backlog lasts, a few ms a pass after. The panel is the menu's Runs tab and all of
``kmon runs`` (:mod:`kmon.tui.runs_app`).
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import DataTable, Input, Label

from kmon.engine.format import printable
from kmon.engine.log.indexed_runs import IndexedRun
from kmon.engine.log.run_files import DEFAULT_RUNS_DIR
from kmon.engine.log.run_rows import RowReader, RunRow
from kmon.engine.log.run_scan import RunScanner
from kmon.engine.log.runs_folder import list_runs, read_run
from kmon.engine.log.runs_index import RunsIndexError, index_path, prune

from ..widgets.runs_table import COLUMNS, FIRST_ROWS, RunsTable
from .confirm_quit import ConfirmQuit

REFRESH_SECONDS = 2.0
#: CPU seconds the first pass may spend digesting whole logs (the rest wait).
FIRST_DIGEST_SECONDS = 0.03
#: CPU seconds a later pass may spend digesting whole logs before it shows what it has.
DIGEST_BUDGET_SECONDS = 0.15


class ConfirmDelete(ConfirmQuit):
    """Asks before deleting a run's files."""

    DEFAULT_CSS = """
    ConfirmDelete { align: center middle; }
    ConfirmDelete #dialog {
        width: 70; height: auto; border: thick $error; background: $surface; padding: 1 2;
    }
    ConfirmDelete #question { text-style: bold; margin-bottom: 1; }
    ConfirmDelete #buttons { height: auto; margin-top: 1; align: center middle; }
    ConfirmDelete Button { margin: 0 2; }
    """


class RunsPanel(Vertical):
    """The runs table with its filter and a line saying where it looked.

    Args:
        runs_dir: the runs folder shown beside the index (``--runs-dir``).
        refresh_seconds: how often the runs are read again.
    """

    DEFAULT_CSS = """
    RunsPanel { height: 1fr; }
    RunsPanel #runs-where { color: $text-muted; padding: 0 1; height: auto; }
    RunsPanel #runs-filter { display: none; }
    RunsPanel #runs-filter.shown { display: block; }
    RunsPanel RunsTable { height: 1fr; }
    """

    BINDINGS = [
        Binding("slash", "filter", "Filter", key_display="/"),
        Binding("s", "sort", "Sort"),
        Binding("r", "reverse", "Reverse", show=False),
        Binding("space", "mark", "Mark"),
        Binding("c", "compare", "Compare"),
        Binding("d", "delete", "Delete"),
        Binding("escape", "clear_filter", "Clear filter", show=False),
    ]

    class RowsRead(Message):
        """The reader thread's latest rows (a newer one replaces an older one)."""

        def __init__(
            self,
            rows: list[RunRow],
            note: str,
            generation: int,
            total: int | None = None,
            partial: bool = False,
        ) -> None:
            super().__init__()
            self.rows, self.note, self.generation = rows, note, generation
            self.total = len(rows) if total is None else total
            """How many runs there are (``rows`` holds the first only, if ``partial``)."""
            self.partial = partial

    class OpenRun(Message):
        """Enter on a run: attach to it if ``attach``, else replay its log."""

        def __init__(self, path: Path, attach: bool) -> None:
            super().__init__()
            self.path, self.attach = path, attach

    class CompareRuns(Message):
        """``c``: compare these runs' logs (the marked ones, else the current)."""

        def __init__(self, paths: list[Path]) -> None:
            super().__init__()
            self.paths = paths

    def __init__(
        self,
        runs_dir: str | os.PathLike = DEFAULT_RUNS_DIR,
        *,
        refresh_seconds: float = REFRESH_SECONDS,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.runs_dir = runs_dir
        self.refresh_seconds = refresh_seconds
        self._row_reader = RowReader()
        self._scanner = RunScanner(runs_dir)
        self._on_screen: frozenset[Path] = frozenset()
        self._runs_shown = threading.Event()
        self._runs_closing = threading.Event()
        self._runs_wake = threading.Event()
        self._runs_mounted = threading.Event()
        self._runs_generation = 0
        self._note = ""
        self._runs_applied = -1
        self._runs_thread: threading.Thread | None = None
        self.first_rows_at: float | None = None
        """When the first rows were on the table (time.perf_counter), for benchmarks."""

    def compose(self) -> ComposeResult:
        # Read while Textual styles and lays out the screen; post once mounted.
        self._runs_thread = threading.Thread(target=self._read_loop, name="kmon-runs", daemon=True)
        self._runs_thread.start()
        yield Label(f"reading the runs index and {printable(self.runs_dir)}…", id="runs-where")
        yield Input(
            placeholder="filter runs by any column (Enter: keep, Esc: clear)", id="runs-filter"
        )
        yield RunsTable(id="runs-table")

    def on_mount(self) -> None:
        self._runs_mounted.set()

    def on_unmount(self) -> None:
        self._runs_closing.set()
        self._runs_mounted.set()
        self._runs_wake.set()
        self._runs_shown.set()

    @property
    def table(self) -> RunsTable:
        return self.query_one(RunsTable)

    # -- reading -----------------------------------------------------------------------

    def _read_loop(self) -> None:
        # The first pass reads only the logs of the rows a first frame shows; the
        # second, right after that frame, all the others (both within one budget).
        first: int | None = FIRST_ROWS
        budget = FIRST_DIGEST_SECONDS
        while not self._runs_closing.is_set():
            (runs, total), note = self._gather(first)
            if first is None:
                runs = runs[::-1]  # the newest digested first, as the table opens
            rows = self._row_reader.read(runs, budget=budget, first=self._on_screen)
            partial = len(rows) < total
            changed = self._row_reader.changed or any(row.running for row in rows)
            if changed or self._runs_generation == 0 or note != self._note or partial:
                self._note = note
                self._runs_generation += 1
                self._runs_shown.clear()
                self._runs_mounted.wait()
                if self._runs_closing.is_set():
                    return
                self.post_message(self.RowsRead(rows, note, self._runs_generation, total, partial))
                self._runs_shown.wait()  # the table has them: read again only then
            if first is not None:
                first = None
                if partial:
                    continue  # the other logs, at once
            budget = DIGEST_BUDGET_SECONDS
            self._runs_wake.wait(self.refresh_seconds)
            self._runs_wake.clear()

    def _gather(self, first: int | None = None) -> tuple[tuple[list[IndexedRun], int], str]:
        """The runs to show (the first ``first`` only, else all) with how many there
        are, and a line saying where they were looked for."""
        where = f"the runs index ({_home(index_path())}) and {printable(self.runs_dir)}"
        try:
            if first is not None:
                return self._scanner.scan_first(first), where
            runs = self._scanner.scan()
        except RunsIndexError as exc:
            runs = [
                IndexedRun(info.path, info.id, info.status, info, None)
                for info in list_runs(self.runs_dir)
            ]
            where = f"{printable(self.runs_dir)} only: {printable(exc)}"
        return (runs, len(runs)), where

    def on_runs_panel_rows_read(self, message: RowsRead) -> None:
        message.stop()
        if message.generation > self._runs_applied:
            self._runs_applied = message.generation
            self.table.show(message.rows)
            self._on_screen = frozenset(row.path for row in self.table.rows_on_screen())
            count = message.total
            if count:
                note = f"{count} run{'s' if count != 1 else ''} in {message.note}"
            else:
                note = f"no runs in {message.note}"
            self.query_one("#runs-where", Label).update(note)
            if self.first_rows_at is None and message.rows:
                self.first_rows_at = time.perf_counter()
        if message.partial:  # the rest after the frame that shows these
            self.call_after_refresh(self._runs_shown.set)
        else:
            self._runs_shown.set()

    def refresh_now(self) -> None:
        """Read the runs again at once (after a delete)."""
        self._runs_wake.set()

    # -- what the user does ------------------------------------------------------------

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        row = self.table.current_row()
        if row is None:
            return
        if row.status in ("missing", "not a log", "truncated"):
            self.notify(f"Cannot open {row.run_id}: its log is {row.status}.", markup=False)
            return
        self.post_message(self.OpenRun(row.path, attach=row.running))

    def action_filter(self) -> None:
        box = self.query_one("#runs-filter", Input)
        box.add_class("shown")
        box.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "runs-filter":
            event.stop()
            self.table.set_filter(event.value)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "runs-filter":
            event.stop()
            self.table.focus()

    def action_clear_filter(self) -> None:
        box = self.query_one("#runs-filter", Input)
        box.value = ""
        box.remove_class("shown")
        self.table.set_filter("")
        self.table.focus()

    def action_sort(self) -> None:
        """Sort by the next column (a click on a header sorts by that one)."""
        keys = [key for key, _ in COLUMNS[1:]]
        self.table.sort_by(keys[(keys.index(self.table.sort_column) + 1) % len(keys)])
        self._say_sort()

    def action_reverse(self) -> None:
        self.table.sort_by(self.table.sort_column)
        self._say_sort()

    def _say_sort(self) -> None:
        arrow = "descending" if self.table.sort_reverse else "ascending"
        self.notify(f"sorted by {self.table.sort_column}, {arrow}", timeout=2)

    def action_mark(self) -> None:
        self.table.toggle_mark()

    def action_compare(self) -> None:
        paths = self.table.marked_paths()
        if not paths:
            row = self.table.current_row()
            paths = [row.path] if row is not None else []
        if paths:
            self.post_message(self.CompareRuns(paths))

    def action_delete(self) -> None:
        row = self.table.current_row()
        if row is None:
            return
        if not row.deletable:
            self.notify(
                f"{row.run_id} is {row.status}: a running run cannot be deleted.",
                severity="warning",
                markup=False,
            )
            return
        files = [path for path in _run_files(row.path) if os.path.lexists(path)]
        names = ", ".join(printable(path.name) for path in files) or "nothing left on disk"
        self.app.push_screen(
            ConfirmDelete(
                f"Delete run {printable(row.run_id)}?",
                f"Deletes {names} in {printable(row.path.parent)}. It cannot be undone.",
            ),
            lambda yes: self._delete(row, files) if yes else None,
        )

    def _delete(self, row: RunRow, files: list[Path]) -> None:
        again = read_run(row.path) if os.path.lexists(row.path) else None
        if again is not None and again.status in ("running", "unknown"):
            self.notify(f"{row.run_id} is running again: not deleted.", severity="warning")
            return
        for path in files:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
            except OSError as exc:
                self.notify(f"Cannot delete {path}: {exc.strerror}", severity="error", markup=False)
                return
        try:
            prune(lambda entry: entry.log == row.path)
        except RunsIndexError:
            pass  # the index is unreadable: the row shows as missing, prunable later
        self.table.drop(str(row.path))
        self.notify(f"Deleted run {row.run_id}.", markup=False)
        self.refresh_now()


def _run_files(log: Path) -> list[Path]:
    """A run's files: its event log and, for a detached run, its output."""
    return [log, log.with_suffix(".out")]


def _home(path: Path) -> str:
    home = os.path.expanduser("~")
    text = str(path)
    if home not in ("", "/") and text.startswith(home + os.sep):
        return printable("~" + text[len(home) :])
    return printable(text)
