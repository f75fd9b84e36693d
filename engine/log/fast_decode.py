"""Decoding the event log's lines fast, with the schema's checks unchanged.

A log is mostly ``batch`` lines (a million of them in a long run), so they take a
typed path: msgspec decodes each into a :class:`BatchLine` struct whose types and
bounds are :mod:`kmon.engine.event_schema`'s for a ``batch`` event, then it becomes
a :class:`~kmon.engine.events.Batch`. Every other line, and any batch line that
path refuses, is decoded into a dict (msgspec, or :mod:`json` where msgspec cannot:
NaN and Infinity tokens, numbers past a float's range, lone surrogates) and
validated by :func:`~kmon.engine.events.event_from_dict`, so what a reader accepts,
skips and says about it is exactly what the validated path decides.

Why msgspec (measured on a 1,000,000-batch log of 190 MiB, docs/benchmarks.md):
it decodes about 8 times faster than :mod:`json` and faster than orjson, and a
typed struct checks the batch's fields while decoding instead of in Python.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

import msgspec

from kmon.engine.event_schema import INT_LIMIT
from kmon.engine.events import SCHEMA_VERSION, Batch, Event, event_from_dict

#: The schema's int: 0 … 2**63-1 (never a bool, which msgspec refuses for an int).
Count = Annotated[int, msgspec.Meta(ge=0, le=INT_LIMIT - 1)]
#: The schema's float: any float (NaN and the infinities come as tokens JSON does
#: not have, so such lines take the json path), or an int in -(2**63-1) … 2**63-1.
Number = Annotated[int, msgspec.Meta(ge=-(INT_LIMIT - 1), le=INT_LIMIT - 1)] | float

#: How kmon's writer starts every batch line (``Batch.to_json``): only such lines
#: try the typed path; any other spelling of a batch takes the validated one.
BATCH_PREFIX = b'{"v":%d,"type":"batch",' % SCHEMA_VERSION


class BatchLine(msgspec.Struct, gc=False):
    """A ``batch`` line as the schema has it: ``t``, ``fit``, ``epoch``, ``step`` and
    ``logs`` required, the rest defaulted, unknown fields ignored. ``t`` is finite
    because msgspec refuses a float out of range and JSON has no NaN token."""

    type: Literal["batch"]
    t: Number
    fit: Count
    epoch: Count
    step: Count
    logs: dict[str, Number]
    v: Annotated[int, msgspec.Meta(ge=1)] = SCHEMA_VERSION
    size: Count | None = None
    values: dict[str, Number | None] | None = None
    span: Count = 1


_batch_decoder = msgspec.json.Decoder(BatchLine)
_any_decoder = msgspec.json.Decoder()
_MSGSPEC_ERRORS = (msgspec.DecodeError, msgspec.ValidationError)
#: The typed path without a call around it, for a reader's loop:
#: ``decode_struct(raw)`` raises one of ``STRUCT_ERRORS`` where
#: :func:`decode_batch_line` returns None, and its ``v`` is still to check.
decode_struct = _batch_decoder.decode
STRUCT_ERRORS = _MSGSPEC_ERRORS


def decode_batch_line(raw: bytes) -> BatchLine | None:
    """A batch line through the typed path, as the struct; None when that path
    refuses it (then :func:`decode_line` decides what it is, with the schema's
    words)."""
    try:
        line = _batch_decoder.decode(raw)
    except _MSGSPEC_ERRORS:
        return None
    if line.v != SCHEMA_VERSION:
        return None  # counted as a newer schema's by the validated path
    return line


def decode_batch(raw: bytes) -> Batch | None:
    """A batch line through the typed path, as a :class:`Batch`; None when that
    path refuses it."""
    line = decode_batch_line(raw)
    if line is None:
        return None
    return as_batch(line)


def as_batch(line: BatchLine) -> Batch:
    """The :class:`Batch` event a decoded batch line is."""
    return Batch(
        t=line.t,
        fit=line.fit,
        epoch=line.epoch,
        step=line.step,
        size=line.size,
        logs=line.logs,
        values=line.values,
        span=line.span,
    )


class BatchRun:
    """Consecutive batch lines of a log, kept as decoded (:class:`BatchLine`
    structs, which have a :class:`Batch`'s attributes): what a reader in batch-run
    mode hands out instead of one :class:`Batch` per line. It is no event of the
    log: :class:`~kmon.engine.view.state.RunState` folds it at once (``type``
    "batch_run"), and :meth:`events` gives the batch events it stands for.

    Making a :class:`Batch` per line costs more than decoding the line: a replay
    of a million batches needs none of them.
    """

    __slots__ = ("blocks", "extent", "lines")
    type = "batch_run"

    def __init__(self, lines: list[BatchLine], blocks: list | None = None) -> None:
        self.lines = lines
        """The lines: a list, or for a run a worker process read, a sequence that
        reads them from the file when first asked for more than its ends
        (:class:`~kmon.engine.log.part_read.StoredLines`)."""
        self.blocks = blocks if blocks is not None else []
        """The lines' columns, stretch by stretch
        (:class:`~kmon.engine.log.column_decode.Columns`), where the reader made
        them: they stand for the run only when they cover every line."""
        self.extent: tuple[int, int] | None = None
        """The bytes of the file from the first line's start to the last line's
        end, where the reader noted them (``EventLogReader.extents``)."""

    def join(self, other: BatchRun) -> None:
        """Append ``other``'s lines and columns."""
        if isinstance(self.lines, list) and isinstance(other.lines, list):
            self.lines += other.lines
        else:
            self.lines = [*self.lines, *other.lines]
        self.blocks += other.blocks
        if self.extent is not None and other.extent is not None:
            self.extent = (self.extent[0], other.extent[1])
        else:
            self.extent = None

    @property
    def t(self) -> float:
        """The last batch's time."""
        return self.lines[-1].t

    def __len__(self) -> int:
        return len(self.lines)

    def events(self) -> list[Batch]:
        """The batch events, one per line."""
        return [as_batch(line) for line in self.lines]


def loads(raw: bytes) -> Any:
    """One JSON value, as :func:`json.loads` gives it.

    Raises:
        ValueError: not JSON (UnicodeDecodeError included).
        RecursionError: nested too deep.
    """
    try:
        return _any_decoder.decode(raw)
    except msgspec.DecodeError:
        # What msgspec refuses and json reads: NaN/Infinity tokens, 1e999, lone
        # surrogates, UTF-16 text. json raises ValueError for what neither reads.
        return json.loads(raw)


def decode_line(raw: bytes) -> tuple[Event, int]:
    """One log line as an event, and the schema version it names.

    Raises:
        InvalidEvent: a known type whose fields do not match the schema.
        UnknownEventType: a type this kmon does not know.
        ValueError: not a kmon event (not JSON, not an object, no type).
        RecursionError: nested too deep.
    """
    if raw.startswith(BATCH_PREFIX):
        event = decode_batch(raw)
        if event is not None:
            return event, SCHEMA_VERSION
    data = loads(raw)
    event = event_from_dict(data)
    return event, data.get("v", SCHEMA_VERSION)
