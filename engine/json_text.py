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
