"""Number and time formatting shared by the headless reporter and the TUI."""

from __future__ import annotations

import math
import re


def format_value(value: float | None) -> str:
    """A metric value in at most ~7 characters, keeping small values readable."""
    if value is None:
        return "—"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    magnitude = abs(value)
    if magnitude == 0:
        return "0"
    if magnitude >= 1e5 or magnitude < 1e-3:
        return f"{value:.2e}"
    return f"{value:.4f}" if magnitude < 10 else f"{value:.2f}"


def format_ratio(value: float) -> str:
    """A percentage or a ratio in two significant digits, without an exponent:
    ``0.45``, ``25``, ``99.5`` (not ``1e+02``, which ``.2g`` writes), ``150``."""
    text = f"{value:.2g}"
    if "e" not in text or abs(value) < 1:
        return text
    # Three digits keep 99.5% from reading as 100%, which would mean a loss of 0.
    text = f"{value:.3g}"
    return text if "e" not in text else f"{value:.0f}"


def format_weight(weight: float) -> str:
    """A loss weight as the Heads tab and its sentences write it: ``1.0``, ``0.5``."""
    weight = float(weight)
    return f"{weight:.1f}" if weight.is_integer() else f"{weight:g}"


def format_duration(seconds: float | None) -> str:
    """``m:ss``, or ``h:mm:ss`` past an hour."""
    if seconds is None or not math.isfinite(seconds):
        return "--:--"
    seconds = int(round(max(seconds, 0)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}:{minutes:02d}:{secs:02d}"
    return f"{minutes}:{secs:02d}"


def format_logs(logs: dict[str, float], keys: list[str] | None = None) -> str:
    """``loss=0.4123 accuracy=0.8125 ...`` in Keras's key order (train, then val_)."""
    ordered = keys if keys is not None else ordered_keys(logs)
    return " ".join(f"{key}={format_value(logs[key])}" for key in ordered if key in logs)


def ordered_keys(logs: dict[str, float]) -> list[str]:
    """``loss`` first, other training keys, then the ``val_`` keys in the same order."""
    train = [key for key in logs if not key.startswith("val_")]
    train.sort(key=lambda key: (key != "loss", key))
    val = [f"val_{key}" for key in train if f"val_{key}" in logs]
    rest = sorted(key for key in logs if key.startswith("val_") and key not in val)
    return train + val + rest


#: Characters a terminal may act on rather than show: C0 controls (ESC, BEL, and
#: newlines and tabs, which would break a one-line row), DEL, C1 controls (0x9b is
#: a one-byte CSI), Unicode line separators and bidirectional overrides (they
#: reorder what follows), and lone surrogates (printing one raises).
_UNPRINTABLE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)


def printable(text: object) -> str:
    """``text`` safe to print on a terminal: each control character (see
    ``_UNPRINTABLE``) becomes its Python escape, e.g. ESC -> ``\\x1b``."""
    return _UNPRINTABLE.sub(_escape, str(text))


def _escape(match: re.Match) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
