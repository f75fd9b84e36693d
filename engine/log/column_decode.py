"""Decoding a stretch of batch lines whose logs share one key set, column-ready.

A long run logs the same keys in every batch. For such a stretch the reader decodes
each line into a struct made for that key set (:func:`decoder_for`): ``logs`` and
``values`` are structs too, one field per key, and ``v`` is this schema's, so msgspec makes no dict per line,
and a fold can take a column fast (``[line.logs_.loss for line in lines]``). A line
whose ``logs`` has another key set, or whose ``values`` has keys other than the
stretch's first recovered ones, is refused, and the reader decodes the stretch
the usual way (:class:`~kmon.engine.log.fast_decode.BatchLine` per line), so the
lines read and skipped are the same.

Each line keeps a :class:`BatchLine`'s attributes: ``logs`` and ``values`` are
dicts made on demand (in the key order of the stretch's first line), so whatever
reads batch lines one by one reads these too. The types and bounds are the
schema's (:mod:`kmon.engine.log.fast_decode`): an int, a float or, in
``values``, null, for every key.
"""

from __future__ import annotations

from array import array
from typing import Any, Literal

import msgspec

from kmon.engine.events import SCHEMA_VERSION
from kmon.engine.log.fast_decode import BatchLine, Count, Number

#: Key sets whose decoders are kept (a log rarely has more than a few).
_CACHED = 32
_decoders: dict[tuple, msgspec.json.Decoder] = {}


def _logs_dict(line: Any) -> dict:
    return dict(zip(line.__kmon_logs__, msgspec.structs.astuple(line.logs_)))


def _values_dict(line: Any) -> dict | None:
    values = line.values_
    if values is None:
        return None
    return dict(zip(line.__kmon_values__, msgspec.structs.astuple(values)))


def _keyed_struct(name: str, keys: tuple[str, ...], kind: Any) -> type:
    """A struct with one required field per key (``k0``, ``k1``…, renamed to the
    keys; ``loss``'s is ``loss``, so that a comprehension takes its column: a third
    of ``attrgetter``'s time), refusing any other key."""
    names = ["loss" if key == "loss" else f"k{index}" for index, key in enumerate(keys)]
    fields = [(field, kind) for field in names]
    rename = dict(zip(names, keys))
    return msgspec.defstruct(name, fields, rename=rename, forbid_unknown_fields=True, gc=False)


def line_type(logs: tuple[str, ...], values: tuple[str, ...] | None) -> type:
    """The struct of a batch line whose ``logs`` has exactly the keys ``logs`` and
    whose ``values`` is null, absent, or has exactly the keys ``values``."""
    logs_struct = _keyed_struct("BatchLogs", logs, Number)
    values_struct = _keyed_struct("BatchValues", values or (), Number | None)
    fields = [
        ("type", Literal["batch"]),
        ("t", Number),
        ("fit", Count),
        ("epoch", Count),
        ("step", Count),
        ("logs_", logs_struct),
        ("v", Literal[SCHEMA_VERSION], SCHEMA_VERSION),
        ("size", Count | None, None),
        ("values_", values_struct | None if values is not None else None, None),
        ("span", Count, 1),
    ]
    namespace = {
        "__kmon_logs__": logs,
        "__kmon_values__": values or (),
        "logs": property(_logs_dict),
        "values": property(_values_dict),
    }
    return msgspec.defstruct(
        "ColumnLine",
        fields,
        rename={"logs_": "logs", "values_": "values"},
        namespace=namespace,
        gc=False,
    )


def decoder_for(first: BatchLine) -> msgspec.json.Decoder:
    """The decoder of lines with ``first``'s key sets (made once per key set)."""
    key = (tuple(first.logs), tuple(first.values) if first.values is not None else None)
    decoder = _decoders.get(key)
    if decoder is None:
        if len(_decoders) >= _CACHED:
            _decoders.clear()
        decoder = _decoders[key] = msgspec.json.Decoder(line_type(*key))
    return decoder


def keys_of(kind: type) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
    """The (logs keys, values keys) of a column line type; None for any other type."""
    logs = getattr(kind, "__kmon_logs__", None)
    return None if logs is None else (logs, kind.__kmon_values__)


class Columns:
    """A stretch of column lines of one fit and one epoch that all log ``loss``, as
    arrays: what :mod:`kmon.engine.view.column_fold` folds (as numpy arrays over
    them). Floats are kept as :class:`array.array` (half the time of
    ``numpy.array`` of a list), so that the reader needs no numpy: a replay's
    worker process never imports it (0.05-0.1 s of its CPU)."""

    __slots__ = (
        "count",
        "epoch",
        "fit",
        "kind",
        "loss",
        "sizes",
        "spans_one",
        "steps",
        "t",
        "values",
    )

    def __init__(self, lines: list) -> None:
        first = lines[0]
        self.kind = (first.__kmon_logs__, first.__kmon_values__)
        """The key sets (not the line type, which does not pickle: a worker
        process sends columns)."""
        self.count = len(lines)
        self.fit, self.epoch = first.fit, first.epoch
        self.t = array("d", [line.t for line in lines])
        self.steps = [line.step for line in lines]
        self.sizes = [line.size for line in lines]
        self.spans_one = [line.span for line in lines].count(1) == self.count
        """Every batch's span is 1."""
        self.loss = array("d", [line.logs_.loss for line in lines])
        self.values = None
        """Each batch's recovered ``loss``; None unless every batch has one."""
        if "loss" in first.__kmon_values__:
            recovered = [line.values_ for line in lines]
            if None not in recovered:
                values = [entry.loss for entry in recovered]
                if None not in values:
                    self.values = array("d", values)


def columns_of(lines: list) -> list[Columns] | None:
    """``lines``' :class:`Columns` (as a one-item list, for
    :class:`~kmon.engine.log.fast_decode.BatchRun`'s blocks); None when they are no
    column lines, or not of one fit and epoch, or log no ``loss``."""
    first = lines[0]
    keys = getattr(first, "__kmon_logs__", None)
    if keys is None or "loss" not in keys:
        return None
    count = len(lines)
    if [line.fit for line in lines].count(first.fit) != count:
        return None
    if [line.epoch for line in lines].count(first.epoch) != count:
        return None
    return [Columns(lines)]
