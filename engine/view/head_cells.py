"""The Heads grid's cells, made from a :class:`~kmon.engine.view.head_board.HeadBoard`:
one row for the total and one per head, a cell per quantity and split, and the same
grid as plain text for headless mode.

Every cell holds a value with its trend mark, or a note saying why there is none, so
no cell is ever blank. The TUI's widget that draws the grid is
:mod:`kmon.tui.widgets.head_grid`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from kmon.engine.format import format_ratio, format_value, format_weight
from kmon.engine.head_map import TRAIN, VAL
from kmon.engine.view.head_board import HeadBoard

#: A value moved (trend mark) when it changed by more than this fraction.
TREND_RTOL = 1e-3

NOT_CONFIGURED = "not configured"
"""The head has no such metric (or no loss): compile() did not ask for it."""
NO_LOSS = "no loss"
PER_HEAD_ONLY = "per head only"
"""Keras computes metrics per head; there is no total accuracy."""
TOTAL_ONLY = "in total only"
"""Keras logs only the total when there is a single loss."""
PENDING = "pending"
NO_VALIDATION = "no validation"


@dataclass(frozen=True, slots=True)
class Cell:
    """One grid cell: a value with its trend mark, or a note saying why there is none."""

    value: float | None = None
    trend: str = ""
    note: str = ""
    baseline: float | None = None
    """The constant predictor's loss beside a training loss, where known."""


@dataclass(frozen=True, slots=True)
class Row:
    head: str | None
    """None for the total."""
    label: str
    weight: str
    cells: dict[tuple[str, str], Cell]
    """(quantity, ``"train"`` or ``"val"``) -> cell."""


def grid_rows(board: HeadBoard) -> list[Row]:
    """The total, then each head, with a cell for every quantity in both splits."""
    splits = (TRAIN, VAL)
    quantities = board.quantities()
    rows = [
        Row(
            None,
            "total",
            "Σ",
            {(q, s): grid_cell(board, None, q, s) for q in quantities for s in splits},
        )
    ]
    for head, entry in board.heads.items():
        weight = entry.get("weight")
        rows.append(
            Row(
                head,
                head,
                f"×{format_weight(weight)}" if weight is not None and entry.get("loss") else "—",
                {(q, s): grid_cell(board, head, q, s) for q in quantities for s in splits},
            )
        )
    return rows


def grid_cell(board: HeadBoard, head: str | None, quantity: str, split: str) -> Cell:
    """The cell of ``head`` (None: the total) for ``quantity`` in ``split``.

    Train cells show Keras's running means while an epoch runs, then History's
    value; validation cells the latest validation. Trend marks compare with the
    value before (↓ lower, ↑ higher, → within 0.1%).
    """
    key = board.keys.get((head, quantity))
    if key is None:
        return Cell(note=_missing(board, head, quantity))
    if split == VAL and not board.validated:
        return Cell(note=NO_VALIDATION if board.epochs_done else PENDING)
    values, reference = (
        (board.train, board.train_reference)
        if split == TRAIN
        else (board.val, board.val_reference)
    )
    value = values.get(key)
    if value is None:
        return Cell(note=PENDING)
    baseline = board.baseline(head) if quantity == "loss" and split == TRAIN else None
    return Cell(float(value), _trend(float(value), reference.get(key)), baseline=baseline)


def versus_constant(value: float, baseline: float) -> str:
    """``constant 0.693 · 0.4% better`` (or ``12% worse``, ``29x worse``): a loss
    against the constant predictor's."""
    text = f"constant {format_value(baseline)}"
    if not (math.isfinite(value) and math.isfinite(baseline)) or baseline <= 0:
        return text
    if value > 2 * baseline:
        return f"{text} · {format_ratio(value / baseline)}x worse"
    change = 100 * (baseline - value) / baseline
    if abs(change) < 0.05:
        return f"{text} · no better"
    return f"{text} · {format_ratio(abs(change))}% {'better' if change > 0 else 'worse'}"


def table_lines(board: HeadBoard) -> list[str]:
    """The grid as compact plain text (headless mode): one line per row."""
    quantities = board.quantities()
    splits = (TRAIN, VAL) if board.validated else (TRAIN,)
    header = ["head", "w"] + [(q if s == TRAIN else f"val_{q}") for q in quantities for s in splits]
    table = [header]
    for row in grid_rows(board):
        line = [row.label, row.weight]
        for quantity in quantities:
            for split in splits:
                line.append(_plain(row.cells[(quantity, split)]))
        table.append(line)
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    return ["  ".join(text.ljust(w) for text, w in zip(line, widths)).rstrip() for line in table]


def _missing(board: HeadBoard, head: str | None, quantity: str) -> str:
    if head is None:
        return PER_HEAD_ONLY
    if quantity != "loss":
        return NOT_CONFIGURED
    if not board.heads.get(head, {}).get("loss"):
        return NO_LOSS
    return TOTAL_ONLY


_PLAIN_NOTES = {NOT_CONFIGURED: "—", NO_LOSS: "—", PER_HEAD_ONLY: "·", TOTAL_ONLY: "=total"}


def _plain(cell: Cell) -> str:
    if cell.value is None:
        return _PLAIN_NOTES.get(cell.note, cell.note)
    return format_value(cell.value) + cell.trend


def _trend(value: float, reference: float | None) -> str:
    if reference is None or not (math.isfinite(value) and math.isfinite(reference)):
        return ""
    if abs(value - reference) <= TREND_RTOL * max(abs(reference), 1e-12):
        return "→"
    return "↓" if value < reference else "↑"
