"""A run's epochs, or its batches, as rows for CSV or JSON (``kmon export``).

Epoch rows: ``fit``, ``epoch`` (as Keras counts it), ``t`` (when it ended, Unix
seconds), then every key History logged, in Keras's order. Batch rows: ``fit``,
``epoch``, ``step``, ``t``, ``size``, ``span``, then ``logs.KEY`` (Keras's running
means) and ``values.KEY`` (the batch's own value as kmon recovered it; blank, or
null, where it was not recoverable). Values are written as logged: NaN and the
infinities as ``nan``/``inf`` in CSV and as the bare ``NaN``/``Infinity`` tokens
kmon's event log uses in JSON (Python's json and pandas read them).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from typing import Any, TextIO

from kmon.engine.events import Batch, EpochEnd, Event
from kmon.engine.format import ordered_keys

EPOCH_COLUMNS = ("fit", "epoch", "t")
BATCH_COLUMNS = ("fit", "epoch", "step", "t", "size", "span")


def epoch_table(events: Iterable[Event]) -> tuple[list[str], list[dict[str, Any]]]:
    """Columns and rows of the epoch table: one row per ``epoch_end``."""
    ends: list[EpochEnd] = [event for event in events if event.type == "epoch_end"]  # type: ignore[misc]
    keys: dict[str, None] = {}
    for end in ends:
        keys.update(dict.fromkeys(ordered_keys(end.logs)))
    columns = [*EPOCH_COLUMNS, *keys]
    rows = [{"fit": end.fit, "epoch": end.epoch, "t": end.t, **end.logs} for end in ends]
    return columns, rows


def batch_table(events: list[Event]) -> tuple[list[str], Iterator[dict[str, Any]]]:
    """Columns and rows of the batch table: one row per ``batch`` event."""
    log_keys: dict[str, None] = {}
    value_keys: dict[str, None] = {}
    for event in events:
        if event.type == "batch":
            log_keys.update(dict.fromkeys(event.logs))  # type: ignore[attr-defined]
            if event.values:  # type: ignore[attr-defined]
                value_keys.update(dict.fromkeys(event.values))  # type: ignore[attr-defined]
    for key in log_keys:
        value_keys.setdefault(key, None)
    columns = [
        *BATCH_COLUMNS,
        *(f"logs.{key}" for key in ordered_keys(dict.fromkeys(log_keys, 0.0))),
        *(f"values.{key}" for key in ordered_keys(dict.fromkeys(value_keys, 0.0))),
    ]

    def rows() -> Iterator[dict[str, Any]]:
        for event in events:
            if event.type != "batch":
                continue
            batch: Batch = event  # type: ignore[assignment]
            row: dict[str, Any] = {
                "fit": batch.fit,
                "epoch": batch.epoch,
                "step": batch.step,
                "t": batch.t,
                "size": batch.size,
                "span": batch.span,
            }
            for key, value in batch.logs.items():
                row[f"logs.{key}"] = value
            for key, value in (batch.values or {}).items():
                row[f"values.{key}"] = value
            yield row

    return columns, rows()


def write_csv(columns: list[str], rows: Iterable[dict[str, Any]], out: TextIO) -> None:
    """A header, then one line per row; blank where a row has no value."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if row.get(column) is None else row[column] for column in columns])


def write_json(columns: list[str], rows: Iterable[dict[str, Any]], out: TextIO) -> None:
    """A JSON array of objects, one per row, every column present (null where a
    row has no value); written row by row."""
    out.write("[")
    for index, row in enumerate(rows):
        out.write(",\n" if index else "\n")
        out.write(json.dumps({column: row.get(column) for column in columns}))
    out.write("\n]\n")
