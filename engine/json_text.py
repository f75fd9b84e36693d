"""JSON text as the event log writes it, and the fast path for batch lines.

NaN and infinities are written as bare tokens (Python's ``json`` default): a NaN
loss is information kmon must not lose or turn into null. Keras hands over Python
floats, but user code may pass numpy scalars or arrays: they are written as the
numbers they hold (anything else as its repr), so they never crash the writer thread.
"""

from __future__ import annotations

import json
from typing import Any

import msgspec


def _fallback(value: Any) -> Any:
    for attr in ("item", "tolist"):
        method = getattr(value, attr, None)
        if callable(method):
            return method()
    return repr(value)


#: One encoder for every event (``json.dumps`` with options builds one per call).
ENCODER = json.JSONEncoder(separators=(",", ":"), default=_fallback)


class BatchLine(msgspec.Struct):
    """A batch event's line, its fields in the order every writer has used (fast
    readers find batch lines by their opening ``{"v":1,"type":"batch",``)."""

    v: int
    type: str
    t: float
    fit: int
    epoch: int
    step: int
    size: int | None
    logs: dict[str, float | None]
    values: dict[str, float | None] | None
    span: int


#: Batch lines are encoded by msgspec: about 1.5 µs a line, where Python's ``json``
#: (or a line spelled out with ``repr`` of each float) takes 3.5-5 µs, on the
#: writer's thread, holding the GIL the training thread needs.
_BATCH_ENCODER = msgspec.json.Encoder()


def finite_floats(mapping: dict) -> bool:
    """Whether every key is a string and every value a finite Python float or None:
    what msgspec writes as :data:`ENCODER` would read (it writes NaN as null)."""
    for key, value in mapping.items():
        if type(key) is not str:
            return False
        if type(value) is float:
            if value - value != 0.0:
                return False
        elif value is not None:
            return False
    return True


def encode_batch_line(line: BatchLine) -> str:
    """A batch event's line, by msgspec. Only for lines :func:`finite_floats` passes
    (and a finite ``t``, plain ints): their floats read back as the same doubles, in
    msgspec's notation (``1e-05`` is written ``0.00001``)."""
    return _BATCH_ENCODER.encode(line).decode()


def encode_batch_lines(events: list, version: int) -> list[str] | None:
    """The lines of a run of batch events (a batch tape's), encoded by msgspec in one
    call: each what the event's ``to_json`` writes (1.3-1.45 µs a line against
    1.5, warm: the checks of every value and the structs cost more than the encoding).
    None when any event is not a batch or has a value msgspec must not write (see
    :func:`finite_floats`): the caller then writes them one by one. ``version`` is
    the log's schema version (``event_types.SCHEMA_VERSION``, which imports this module)."""
    structs = []
    for event in events:
        if event.type != "batch":
            return None
        logs, values, t, size = event.logs, event.values, event.t, event.size
        if not (
            type(t) is float
            and t - t == 0.0
            and type(event.fit) is type(event.epoch) is type(event.step) is type(event.span) is int
            and (size is None or type(size) is int)
            and type(logs) is dict
            and finite_floats(logs)
            and (values is None or (type(values) is dict and finite_floats(values)))
        ):
            return None
        fit, epoch, step, span = event.fit, event.epoch, event.step, event.span
        structs.append(BatchLine(version, "batch", t, fit, epoch, step, size, logs, values, span))
    if not structs:
        return []
    return _BATCH_ENCODER.encode_lines(structs).decode().split("\n")[:-1]
