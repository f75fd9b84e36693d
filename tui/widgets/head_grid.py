"""The per-head grid of a multi-output model: rows are the total and each head,
columns the loss and every metric, for training and validation. The metric filter
(``/``) keeps the columns whose log key (``accuracy``, ``val_accuracy``) matches."""

from __future__ import annotations

from rich.cells import cell_len
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Static

from kmon.engine.format import format_value
from kmon.engine.head_map import TRAIN, VAL
from kmon.engine.view.head_board import HeadBoard
from kmon.engine.view.head_cells import Cell, Row, grid_rows, versus_constant
from kmon.engine.view.head_text import heads_summary, sum_check_text
from kmon.engine.view.state import RunState

from .metric_filter import EVERYTHING, metric_matcher

WAITING = "Heads appear when training starts: kmon reads them from the compiled model."
NO_HEADS = (
    "No heads to show: the model has no compiled loss or metrics (a custom train_step "
    "computes its own), so kmon cannot tell which log key belongs to which output."
)
#: Added to the legend once the fit's baselines are known.
CONSTANT_LEGEND = (
    " · constant: the loss of the best prediction that ignores the inputs (the label "
    "prior, the targets' mean...), on the training targets"
)
LEGEND = (
    "train: Keras's running mean while an epoch runs, then History · val: after each "
    "epoch · ↓ ↑ → against the previous epoch · not configured: compile() asked for "
    "no such metric (or loss) on this head"
)


class HeadGrid(VerticalScroll):
    """Redraws only when the run's head board changed."""

    DEFAULT_CSS = """
    HeadGrid {
        height: 1fr;
        padding: 0 1;
    }
    HeadGrid > #head-summary {
        height: auto;
        text-style: bold;
        margin-bottom: 1;
    }
    HeadGrid > DataTable {
        height: auto;
        max-height: 14;
        margin-bottom: 1;
    }
    HeadGrid > #head-filter {
        height: auto;
        color: $warning;
    }
    HeadGrid > #head-check, HeadGrid > #head-legend {
        height: auto;
        color: $text-muted;
    }
    HeadGrid > #head-legend {
        margin-top: 1;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._drawn: tuple[int, int] | None = None
        self._layout: tuple[list[str], list[str]] | None = None
        """The table's column and row keys, as last built."""
        self._state: RunState | None = None
        self._filter = ""
        self._shown = EVERYTHING

    def set_filter(self, text: str) -> None:
        """Keep the metric columns whose key matches ``text`` (empty: all)."""
        if text == self._filter:
            return
        self._filter, self._shown = text, metric_matcher(text)
        self._drawn = None
        if self._state is not None:
            self.show(self._state)

    def compose(self) -> ComposeResult:
        yield Static(WAITING, id="head-summary")
        filter_status = Static("", id="head-filter")
        filter_status.display = False
        yield filter_status
        table: DataTable = DataTable(cursor_type="none", zebra_stripes=True, id="head-table")
        table.display = False
        yield table
        yield Static("", id="head-check")
        yield Static(LEGEND, id="head-legend")

    def show(self, state: RunState) -> None:
        self._state = state
        board = state.heads
        if board is None:
            return
        drawn = (id(board), board.version)
        if drawn == self._drawn:
            return
        self._drawn = drawn
        if not board.heads:
            # Training runs but Keras built no compiled loss or metrics: a custom
            # train_step that computes its own.
            self.query_one("#head-summary", Static).update(NO_HEADS if board.train else WAITING)
            self.query_one(DataTable).display = False
            return
        self.query_one("#head-summary", Static).update(_plain(heads_summary(board)))
        check = sum_check_text(board)
        if board.unplaced:
            check += " Also logged, from no head: " + ", ".join(board.unplaced) + "."
        self.query_one("#head-check", Static).update(_plain(check))
        legend = LEGEND + (CONSTANT_LEGEND if board.baselines else "")
        self.query_one("#head-legend", Static).update(legend)
        self._fill(board)

    def _columns(self, board: HeadBoard) -> list[tuple[str, str, str, str]]:
        """(label, key, quantity, split) of each metric column the filter keeps."""
        return [
            (
                quantity if split == TRAIN else f"val {quantity}",
                f"{split}:{quantity}",
                quantity,
                split,
            )
            for quantity in board.quantities()
            for split in (TRAIN, VAL)
            if self._shown(quantity if split == TRAIN else f"val_{quantity}")
        ]

    def _fill(self, board: HeadBoard) -> None:
        table = self.query_one(DataTable)
        if not table.display:
            # Shown and filled in one pass, the table would keep the height it was
            # laid out with while empty (none, until the terminal is resized): its
            # rows' layout request is lost in the showing one. Fill it once shown.
            table.display = True
            self.call_after_refresh(self._fill, board)
            return
        metrics = self._columns(board)
        self._show_filter(board, len(metrics))
        columns = [("head", "head"), ("weight", "weight")] + [
            (label, key) for label, key, _q, _s in metrics
        ]
        rows = {
            _row_key(row): [
                Text(row.label, style="bold" if row.head is None else ""),
                Text(row.weight, style="dim"),
                *(_cell(row.cells[(q, s)]) for _label, _key, q, s in metrics),
            ]
            for row in grid_rows(board)
        }
        # Column widths are set here, from the cells, not left to DataTable's auto
        # width: that is measured on the table's next idle, without invalidating
        # its render caches, so a paint in between (a tab shown again) kept every
        # cell cropped to its header's width for good.
        widths = [
            max(cell_len(label), *(cells[index].cell_len for cells in rows.values()))
            for index, (label, _key) in enumerate(columns)
        ]
        layout = ([key for _label, key in columns], list(rows))
        if layout == self._layout:
            _update(table, rows, widths)
            return
        self._layout = layout
        table.clear(columns=True)
        for (label, key), width in zip(columns, widths, strict=True):
            table.add_column(label, key=key, width=width)
        for key, cells in rows.items():
            table.add_row(*cells, key=key)

    def _show_filter(self, board: HeadBoard, kept: int) -> None:
        """Say what the filter keeps, under the summary (nothing without one)."""
        status = self.query_one("#head-filter", Static)
        status.display = bool(self._filter)
        if self._filter:
            total = 2 * len(board.quantities())
            what = f"{kept} of {total} columns" if kept else "no column"
            status.update(Text(f"filter /{self._filter}/: {what} (/ to change, Esc in it clears)"))


def _update(table: DataTable, rows: dict[str, list[Text]], widths: list[int]) -> None:
    """Same heads and columns: only values changed (at every batch while training)."""
    for index, (column, width) in enumerate(zip(table.ordered_columns, widths, strict=True)):
        grows = width > column.width  # never narrower: the grid does not jitter
        if grows:
            column.width = width
        for row_key, cells in rows.items():
            cell = cells[index]
            if grows or table.get_cell(row_key, column.key) != cell:
                # update_width: the table's virtual size follows a wider column.
                table.update_cell(row_key, column.key, cell, update_width=grows)


def _row_key(row: Row) -> str:
    return "total" if row.head is None else f"head:{row.head}"


def _cell(cell: Cell) -> Text:
    if cell.value is None:
        return Text(cell.note, style="dim italic")
    text = Text(format_value(cell.value))
    if cell.trend:
        text.append(" " + cell.trend, style="dim")
    if cell.baseline is not None:
        text.append(" · " + versus_constant(cell.value, cell.baseline), style="dim")
    return text


def _plain(text: str) -> Text:
    """Model and metric names are user text: never read them as markup."""
    return Text(text)
