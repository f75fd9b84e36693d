"""JSON text as the event log writes it, and the fast path for a batch's numbers.

NaN and infinities are written as bare tokens (Python's ``json`` default): a NaN
loss is information kmon must not lose or turn into null. Keras hands over Python
floats, but user code may pass numpy scalars or arrays: they are written as the
numbers they hold (anything else as its repr), so they never crash the writer thread.
"""

from __future__ import annotations

import json
from typing import Any


def _fallback(value: Any) -> Any:
    for attr in ("item", "tolist"):
        method = getattr(value, attr, None)
        if callable(method):
            return method()
    return repr(value)


#: One encoder for every event (``json.dumps`` with options builds one per call).
ENCODER = json.JSONEncoder(separators=(",", ":"), default=_fallback)

#: Log keys are few and repeat every batch: their JSON form is kept.
_KEY_TEXT: dict[str, str] = {}


def encode_float(value: float) -> str:
    """As the encoder writes a float: its repr, NaN and infinities as bare tokens."""
    return repr(value) if value - value == 0.0 else ENCODER.encode(value)


def encode_float_mapping(mapping: dict[str, float | None] | None) -> str | None:
    """A ``{str: float | None}`` mapping as the encoder writes it; None when it is
    None or holds anything else (the caller falls back to the encoder)."""
    if mapping is None:
        return None
    parts = []
    for key, value in mapping.items():
        name = _KEY_TEXT.get(key)
        if name is None:
            if type(key) is not str:
                return None
            name = _KEY_TEXT[key] = json.dumps(key) + ":"
        if type(value) is float:
            parts.append(name + encode_float(value))
        elif value is None:
            parts.append(name + "null")
        else:
            return None
    return "{" + ",".join(parts) + "}"
