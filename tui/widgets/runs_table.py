"""The Runs screen's table: one row per run, updated cell by cell, sortable,
filterable by any column's text, with marks for comparing.

Every cell is one line of text: a plain ``str`` where it holds nothing Rich markup
or emoji codes would read (DataTable parses a ``str`` cell as markup), else a
:class:`~rich.text.Text`. So a cell's width is its text's cell length, and the
table takes its column widths from the texts (:meth:`RunsTable._lay_out`) instead of
rendering every cell of every row as DataTable does: 0.5 s of CPU for 2,000 runs.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from pathlib import Path

from rich.cells import cell_len
from rich.text import Text
from textual.widgets import DataTable
from textual.widgets.data_table import ColumnKey, RowKey

from kmon.engine.format import format_duration, format_value, printable
from kmon.engine.log.run_rows import RunRow

#: (key, title): the table's columns, in order.
COLUMNS = (
    ("mark", " "),
    ("status", "status"),
    ("what", "what"),
    ("host", "host"),
    ("started", "started"),
    ("duration", "duration"),
    ("progress", "progress"),
    ("eta", "ETA"),
    ("loss", "last loss"),
    ("val_loss", "best val_loss"),
    ("alarms", "alarms"),
    ("run", "run"),
)
_STATUS_STYLE = {
    "running": "bold green",
    "ok": "green",
    "failed": "bold red",
    "stopped": "yellow",
    "stale": "magenta",
    "missing": "red",
    "truncated": "red",
    "not a log": "red",
}
_MARK = "●"
#: Rows added before the first frame of a layout, at least (the rest: after it).
FIRST_ROWS = 100
#: Columns whose first sort is descending: the newest run first.
NEWEST_FIRST = frozenset({"started"})


def cells(row: RunRow, now: float) -> dict[str, str]:
    """The text of each column of ``row`` (an absent value is "-")."""
    end = now if row.running else (row.last_t or row.started)
    duration = format_duration(end - row.started) if row.started is not None and end else "-"
    if row.epochs_done is None:
        progress = "-"
    elif row.epochs is not None:
        progress = f"{row.epochs_done}/{row.epochs}"
    else:
        progress = str(row.epochs_done)
    return {
        "status": row.status,
        "what": printable(row.what),
        "host": printable(row.host or "-"),
        "started": _clock(row.started),
        "duration": duration,
        "progress": progress,
        "eta": format_duration(row.eta) if row.eta is not None else "-",
        "loss": format_value(row.last_loss) if row.last_loss is not None else "-",
        "val_loss": format_value(row.best_val_loss) if row.best_val_loss is not None else "-",
        "alarms": "-" if row.alarms is None else str(row.alarms),
        "run": printable(row.run_id),
    }


def _widest(texts: Iterable[str]) -> int:
    """The widest of these one-line texts, in terminal cells."""
    return max((len(text) if text.isascii() else cell_len(text) for text in texts), default=0)


def _clock(started: float | None) -> str:
    if started is None:
        return "-"
    try:
        return time.strftime("%m-%d %H:%M", time.localtime(started))
    except (OverflowError, OSError, ValueError):
        return "?"


class RunsTable(DataTable):
    """The runs, keyed by their log's path. :meth:`show` takes the latest rows and
    changes only the cells that changed; sorting and filtering reorder the rows
    shown, never reread a log."""

    def __init__(self, **kwargs) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self.rows_by_key: dict[str, RunRow] = {}
        self._texts: dict[str, dict[str, str]] = {}
        self.marked: set[str] = set()
        self.sort_column = "started"
        self.sort_reverse = True
        """Newest first, as a dashboard of runs lists them: the run just started (or
        the one still training) is on the first screen, not after every old one."""
        self.filter_text = ""
        self._order: list[str] = []
        self._added = 0
        """Rows of ``_order`` in the table: the first screenfuls are added at once,
        the rest after the frame that shows them (:meth:`_add_rest`)."""
        self._layouts = 0
        """Layouts so far: a later one drops an earlier one's rows still to add."""
        self.first_frame_at: float | None = None
        """When a frame first showed rows (``time.perf_counter``), for benchmarks."""

    def on_mount(self) -> None:
        for key, title in COLUMNS:
            self.add_column(title, key=key)

    # -- what is shown ---------------------------------------------------------------

    def show(self, rows: list[RunRow], now: float | None = None) -> None:
        """Show ``rows`` (every run), updating cells in place where a row is shown."""
        now = time.time() if now is None else now
        fresh = {str(row.path): row for row in rows}
        # A row the reader did not rebuild (the same object) shows the same texts,
        # unless it runs (its duration moves): 2,000 rows, 20 of them changing.
        texts = {
            key: (
                self._texts[key]
                if self.rows_by_key.get(key) is row and not row.running
                else cells(row, now)
            )
            for key, row in fresh.items()
        }
        self.marked &= set(fresh)
        layout_changed = set(fresh) != set(self.rows_by_key) or self._order_changed(texts)
        self.rows_by_key, old_texts, self._texts = fresh, self._texts, texts
        if layout_changed:
            self._lay_out()
            return
        widths = {column.key.value: column.content_width for column in self.columns.values()}
        # The same rows in the same order; those not added yet take their texts then.
        for key in self._order[: self._added]:
            for column, text in texts[key].items():
                if old_texts.get(key, {}).get(column) != text:
                    # A wider text widens its column (else DataTable would crop it).
                    wider = cell_len(text) > widths.get(column, 0)
                    self.update_cell(key, column, self._styled(column, text), update_width=wider)

    def _order_changed(self, texts: dict[str, dict[str, str]]) -> bool:
        """Whether a changed cell moves a row (in the sort column) or in or out of
        the filter."""
        for key, text in texts.items():
            old = self._texts.get(key)
            if old is None:
                return True
            if old.get(self.sort_column) != text.get(self.sort_column):
                return True
            if self.filter_text and self._matches(old) != self._matches(text):
                return True
        return False

    def _lay_out(self) -> None:
        """Rebuild the shown rows: after a sort, a filter, runs added or gone."""
        cursor_key = self.current_key()
        self.clear()
        keys = self._order = self._visible_keys()
        columns = [column for column, _ in COLUMNS[1:]]
        for column in columns:  # widths from the texts: see _update_dimensions
            self.columns[ColumnKey(column)].content_width = max(
                self.columns[ColumnKey(column)].content_width,
                _widest(self._texts[key][column] for key in keys),
            )
        self._layouts += 1
        self._added = 0
        # What a first frame shows is added now; the rest after it (2,000 rows cost
        # about 0.1 s of CPU to add, the screen shows 40).
        first = max(FIRST_ROWS, 2 * self.size.height)
        if cursor_key in keys:
            first = max(first, keys.index(cursor_key) + 1)
        self._add_rows(first)
        if cursor_key in keys:
            self.move_cursor(row=keys.index(cursor_key))
        self.call_after_refresh(self._after_frame, self._layouts)

    def _add_rows(self, count: int) -> None:
        columns = [column for column, _ in COLUMNS[1:]]
        start, self._added = self._added, min(self._added + count, len(self._order))
        for key in self._order[start : self._added]:
            texts = self._texts[key]
            self.add_row(self._mark(key), *(self._styled(c, texts[c]) for c in columns), key=key)

    def _after_frame(self, layout: int) -> None:
        """After a layout's first frame: the rows it did not need, unless another
        layout came since."""
        if self.first_frame_at is None and self.row_count:
            self.first_frame_at = time.perf_counter()
        if layout == self._layouts and not self.complete:
            self._add_rows(len(self._order))

    @property
    def complete(self) -> bool:
        """Every row shown (not waiting to be added after a frame)."""
        return self._added == len(self._order)

    def _visible_keys(self) -> list[str]:
        keys = [key for key in self._texts if self._matches(self._texts[key])]
        key = self._sort_key()
        keys.sort(key=key, reverse=self.sort_reverse)
        if self.sort_reverse:
            # Rows without a value (a run whose start is unknown) stay last either way.
            keys = [k for k in keys if not key(k)[0]] + [k for k in keys if key(k)[0]]
        return keys

    def _sort_key(self) -> Callable[[str], tuple]:
        column = self.sort_column
        numeric = {
            "started": lambda row: row.started,
            "duration": lambda row: (row.last_t or 0) - (row.started or 0),
            "loss": lambda row: row.last_loss,
            "val_loss": lambda row: row.best_val_loss,
            "alarms": lambda row: row.alarms,
            "eta": lambda row: row.eta,
        }.get(column)

        def key(path: str) -> tuple:
            row = self.rows_by_key[path]
            if numeric is not None:
                value = numeric(row)
                return (value is None, value or 0.0, path)
            return (False, self._texts[path].get(column, "").lower(), path)

        return key

    def _matches(self, texts: dict[str, str]) -> bool:
        needle = self.filter_text.strip().lower()
        return not needle or any(needle in text.lower() for text in texts.values())

    def _mark(self, key: str) -> str:
        return _MARK if key in self.marked else " "

    @staticmethod
    def _styled(column: str, text: str) -> Text | str:
        if column == "status":
            return Text(text, style=_STATUS_STYLE.get(text.split(",")[0], ""))
        if column == "alarms" and text not in ("-", "0"):
            return Text(text, style="bold yellow")
        if "[" in text or ":" in text:  # markup or an emoji code to DataTable: keep it text
            return Text(text)
        return text

    def _update_dimensions(self, new_rows: Iterable[RowKey]) -> None:
        """Size the table without measuring the new rows: :meth:`_lay_out`, the only
        place rows are added, widened the columns for their texts already, and
        DataTable's own measure renders every cell (0.5 s of CPU for 2,000 runs)."""
        super()._update_dimensions(())

    # -- what the user does ----------------------------------------------------------

    def current_key(self) -> str | None:
        if not self.row_count:
            return None
        try:
            key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key
        except Exception:  # noqa: BLE001 - no row under the cursor
            return None
        return key.value

    def rows_on_screen(self) -> list[RunRow]:
        """The runs of the rows the table shows now (what to read first)."""
        top = max(0, int(self.scroll_offset.y))
        keys = self._order[top : top + max(self.size.height, 1)]
        return [self.rows_by_key[key] for key in keys if key in self.rows_by_key]

    def current_row(self) -> RunRow | None:
        key = self.current_key()
        return self.rows_by_key.get(key) if key is not None else None

    def sort_by(self, column: str) -> None:
        """Sort by ``column`` (``started`` newest first, any other ascending); again
        by the same one reverses the order."""
        if column == self.sort_column:
            self.sort_reverse = not self.sort_reverse
        else:
            self.sort_column, self.sort_reverse = column, column in NEWEST_FIRST
        self._lay_out()

    def set_filter(self, text: str) -> None:
        self.filter_text = text
        self._lay_out()

    def toggle_mark(self) -> None:
        key = self.current_key()
        if key is None:
            return
        self.marked.symmetric_difference_update({key})
        self.update_cell(key, "mark", self._mark(key))

    def marked_paths(self) -> list[Path]:
        """The marked runs' logs, in the table's order."""
        return [self.rows_by_key[key].path for key in self._visible_keys() if key in self.marked]

    def drop(self, key: str) -> None:
        """Forget a run (its files were deleted)."""
        self.rows_by_key.pop(key, None)
        self._texts.pop(key, None)
        self.marked.discard(key)
        self._lay_out()

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        event.stop()
        if event.column_key.value != "mark":
            self.sort_by(event.column_key.value)
