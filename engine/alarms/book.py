"""The alarm book: which alarms are active in a run, emitting ``alarm`` events on
transitions only (raised, cleared; ended when a later fit trains another model),
never repeats. Plain Python, free of Keras."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kmon.engine.alarms.kinds import CLEARED, ENDED, RAISED, WARNING


@dataclass
class AlarmState:
    """One active alarm, as it was raised."""

    kind: str
    subject: str | None
    severity: str
    message: str
    evidence: dict[str, Any]


class AlarmBook:
    """Which alarms are active in a run; emits ``alarm`` events on transitions only.

    One book serves every ``fit()`` of a run, so an alarm raised in one fit can be
    cleared by the next (e.g. ``unscaled_data`` once the data is standardized) while
    the same model trains on; a fit on another model ends them (:meth:`end_all`).

    Args:
        emit: called with an :class:`~kmon.engine.events.Alarm` per transition.
    """

    def __init__(self, emit: Callable[[Any], None]) -> None:
        self._emit = emit
        self.active: dict[tuple[str, str | None], AlarmState] = {}

    def is_active(self, kind: str, subject: str | None = None) -> bool:
        return (kind, subject) in self.active

    def raise_(
        self,
        kind: str,
        message: str,
        evidence: dict[str, Any],
        *,
        severity: str = WARNING,
        subject: str | None = None,
        fit: int = 0,
        epoch: int | None = None,
        step: int | None = None,
    ) -> bool:
        """Raise ``kind`` (for ``subject``) unless it is already active."""
        key = (kind, subject)
        if key in self.active:
            return False
        self.active[key] = AlarmState(kind, subject, severity, message, dict(evidence))
        self._send(RAISED, key, message, evidence, fit, epoch, step)
        return True

    def clear(
        self,
        kind: str,
        message: str,
        evidence: dict[str, Any],
        *,
        subject: str | None = None,
        fit: int = 0,
        epoch: int | None = None,
        step: int | None = None,
    ) -> bool:
        """Clear ``kind`` (for ``subject``) if it is active."""
        key = (kind, subject)
        if key not in self.active:
            return False
        self._send(CLEARED, key, message, evidence, fit, epoch, step)
        del self.active[key]
        return True

    def end_all(self, *, fit: int, next_fit: int, next_model: str | None) -> int:
        """End every active alarm: fit ``fit`` was the last of the model they were
        raised on, and ``next_fit`` trains another one, to which they do not apply.

        Returns how many ended. Each gets an ``ended`` event saying so, written
        before the next fit's own events (its data checks may raise the same kind).
        """
        named = f" ({next_model})" if next_model else ""
        # Shown as "ended (with fit N): <message>".
        message = f"fit {next_fit} trains another model{named}"
        evidence = {"next_fit": next_fit, "next_model": next_model}
        ended = list(self.active)
        for key in ended:
            self._send(ENDED, key, message, evidence, fit, None, None)
            del self.active[key]
        return len(ended)

    def _send(self, state, key, message, evidence, fit, epoch, step) -> None:
        from kmon.engine.events import Alarm

        kind, subject = key
        self._emit(
            Alarm(
                kind=kind,
                state=state,
                severity=self.active[key].severity,
                message=message,
                evidence=_plain(evidence),
                subject=subject,
                fit=fit,
                epoch=epoch,
                step=step,
            )
        )


def _plain(evidence: dict[str, Any]) -> dict[str, Any]:
    """Evidence as JSON-friendly Python numbers, strings and lists."""
    out: dict[str, Any] = {}
    for key, value in evidence.items():
        if hasattr(value, "item") and callable(value.item):
            value = value.item()
        if isinstance(value, float):
            value = float(f"{value:.6g}") if math.isfinite(value) else value
        out[key] = value
    return out
