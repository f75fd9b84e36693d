"""Training alarms: thresholds, consecutive-check counters and hysteresis.

Everything here is plain Python and free of Keras, so the decisions can be tested
on numbers alone. :mod:`kmon.engine.alarms.probing` measures, :mod:`kmon.engine.alarms.probe_callback`
calls the rules below, and an :class:`AlarmBook` turns their verdicts into ``alarm``
events, emitting only transitions (raised, cleared; ended when a later fit trains
another model), never repeats.

Kinds:

- ``prediction_variance``: predictions barely vary across inputs (relative to the
  targets' spread): the "same prediction for every input" failure.
- ``vanishing_gradients``: the first layers get gradients orders of magnitude
  smaller than the last layers, or all gradients are near zero while the loss is not.
- ``exploding_gradients``: gradient norms grew by orders of magnitude since the fit
  started, or are not finite.
- ``unscaled_data``: inputs or targets far from unit scale, or features on very
  different ranges.
- ``nonfinite_data``: NaN or Inf in the inputs or targets.
- ``nan_loss``: the training loss became NaN or Inf.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kmon.engine.format import format_value

RAISED, CLEARED = "raised", "cleared"
ENDED = "ended"
"""An alarm of a model that no longer trains: a later fit trains another model.
Not a fix (the problem was never cleared), so kept apart from ``CLEARED``."""
WARNING, ERROR = "warning", "error"

PREDICTION_VARIANCE = "prediction_variance"
VANISHING_GRADIENTS = "vanishing_gradients"
EXPLODING_GRADIENTS = "exploding_gradients"
UNSCALED_DATA = "unscaled_data"
NONFINITE_DATA = "nonfinite_data"
NAN_LOSS = "nan_loss"


# -- the counters --------------------------------------------------------------------

LOW, MID, HIGH, HOLD = "low", "mid", "high", "hold"


class Hysteresis:
    """Raises after ``raise_after`` consecutive low checks; clears after
    ``clear_after`` consecutive high ones. A ``mid`` check (between the raise and
    the clear thresholds) resets both counts; ``hold`` changes nothing.

    Args:
        raise_after: consecutive low checks that raise the alarm.
        clear_after: consecutive high checks that clear it.
    """

    def __init__(self, raise_after: int = 3, clear_after: int = 2) -> None:
        self.raise_after = raise_after
        self.clear_after = clear_after
        self.active = False
        self.low = 0
        self.high = 0

    def update(self, verdict: str) -> str | None:
        """Count one check; returns ``"raised"``, ``"cleared"`` or None."""
        if verdict == LOW:
            self.low, self.high = self.low + 1, 0
            if not self.active and self.low >= self.raise_after:
                self.active = True
                return RAISED
        elif verdict == HIGH:
            self.low, self.high = 0, self.high + 1
            if self.active and self.high >= self.clear_after:
                self.active = False
                return CLEARED
        elif verdict == MID:
            self.low = self.high = 0
        return None


@dataclass
class VarianceRule:
    """Decides on one head's prediction spread ratio, check after check.

    A check is low when the ratio is under ``threshold``, except while it is still
    rising (``rise`` times the lowest of the last ``window`` checks, and above
    ``floor``): a healthy model whose output layer starts near zero spreads its
    predictions check after check, a collapsed one does not. Clears once the ratio is back above
    ``clear`` for ``clear_after`` checks.
    """

    threshold: float = 0.05
    clear: float = 0.1
    raise_after: int = 3
    clear_after: int = 2
    rise: float = 1.25
    floor: float = 1e-5
    window: int = 4
    recent: deque = field(init=False)
    counter: Hysteresis = field(init=False)

    def __post_init__(self) -> None:
        self.counter = Hysteresis(self.raise_after, self.clear_after)
        self.recent = deque(maxlen=self.window)

    def verdict(self, ratio: float) -> str:
        """``low``, ``mid``, ``high`` or ``hold`` (not finite, or still rising: at least
        ``rise`` times the lowest of the last ``window`` checks, and above ``floor``,
        which is far above float32 noise on a collapsed head)."""
        earlier = [r for r in self.recent if math.isfinite(r)]
        self.recent.append(ratio)
        if not math.isfinite(ratio):
            return HOLD
        if ratio >= self.clear:
            return HIGH
        if ratio >= self.threshold:
            return MID
        rising = bool(earlier) and ratio >= self.floor and ratio >= self.rise * min(earlier)
        return HOLD if rising else LOW

    def update(self, ratio: float) -> str | None:
        return self.counter.update(self.verdict(ratio))

    @property
    def active(self) -> bool:
        return self.counter.active


@dataclass
class GradientRule:
    """Vanishing and exploding gradients from per-layer norms, in model order.

    Vanishing: the first trainable layer's norm is under ``vanish_ratio`` times the
    last one's, or every norm is under ``zero_norm`` while the loss is above
    ``zero_loss`` (a model that fits its data perfectly has no gradient, and is fine).
    Exploding: a non-finite norm (at once, severity error), or the total norm above
    ``explode_growth`` times the fit's first measurement and above ``explode_floor``.
    """

    vanish_ratio: float = 1e-4
    vanish_clear: float = 1e-3
    zero_norm: float = 1e-7
    zero_loss: float = 1e-4
    explode_growth: float = 100.0
    explode_floor: float = 1.0
    raise_after: int = 2
    clear_after: int = 2
    reference: float | None = None
    vanishing: Hysteresis = field(init=False)
    exploding: Hysteresis = field(init=False)

    def __post_init__(self) -> None:
        self.vanishing = Hysteresis(self.raise_after, self.clear_after)
        self.exploding = Hysteresis(self.raise_after, self.clear_after)

    def check(
        self, norms: list[tuple[str, float]], loss: float
    ) -> dict[str, tuple[str | None, dict[str, Any]]]:
        """One gradient measurement (``(layer, norm)`` in model order, and the loss
        they were taken at); returns ``{kind: (transition or None, evidence)}``."""
        values = [norm for _, norm in norms]
        finite = all(math.isfinite(v) for v in values)
        total = math.sqrt(sum(v * v for v in values)) if finite else math.inf
        first_name, first = norms[0]
        last_name, last = norms[-1]
        ratio = first / last if last > 0 else (0.0 if first == 0 else math.inf)
        evidence: dict[str, Any] = {
            "first_layer": first_name,
            "first_norm": first,
            "last_layer": last_name,
            "last_norm": last,
            "first_to_last": ratio,
            "total_norm": total,
            "loss": loss,
            "layers": len(norms),
        }
        if not finite:
            evidence["nonfinite_layers"] = [n for n, v in norms if not math.isfinite(v)][:5]
            # Not finite is not a trend: raise at once.
            self.exploding.low = max(self.exploding.low, self.exploding.raise_after - 1)
            return {
                EXPLODING_GRADIENTS: (self.exploding.update(LOW), evidence),
                VANISHING_GRADIENTS: (None, evidence),
            }
        all_zero = total < self.zero_norm and loss > self.zero_loss
        evidence["all_near_zero"] = all_zero
        if all_zero or (len(norms) > 1 and ratio < self.vanish_ratio):
            verdict = LOW
        elif ratio >= self.vanish_clear and total >= self.zero_norm:
            verdict = HIGH
        else:
            verdict = MID
        vanishing = self.vanishing.update(verdict)
        if self.reference is None or self.reference <= 0:
            self.reference = total
        growth = total / self.reference if self.reference > 0 else 1.0
        evidence["growth"] = growth
        if total > self.explode_floor and growth >= self.explode_growth:
            verdict = LOW
        elif growth < self.explode_growth / 10:
            verdict = HIGH
        else:
            verdict = MID
        return {
            EXPLODING_GRADIENTS: (self.exploding.update(verdict), evidence),
            VANISHING_GRADIENTS: (vanishing, evidence),
        }


# -- the book ---------------------------------------------------------------------------


@dataclass
class AlarmState:
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


def gradient_message(kind: str, transition: str, evidence: dict) -> str:
    """One line for a gradient alarm's transition, from its evidence."""
    first, last = evidence["first_layer"], evidence["last_layer"]
    norms = (
        f"|grad| {first} {format_value(evidence['first_norm'])}, "
        f"{last} {format_value(evidence['last_norm'])}"
    )
    if kind == VANISHING_GRADIENTS:
        if transition != RAISED:
            return f"gradients reach the first layers again ({norms})"
        if evidence.get("all_near_zero"):
            return (
                f"all gradients are near zero (total {format_value(evidence['total_norm'])}) "
                f"while the loss is {format_value(evidence['loss'])}"
            )
        if evidence["first_norm"] == 0:
            return (
                f"the first layer ({first}) gets no gradient at all, the last ({last}) "
                f"gets {format_value(evidence['last_norm'])}"
            )
        return (
            f"the first layer's gradient is {format_value(evidence['first_to_last'])} times "
            f"the last layer's ({norms})"
        )
    if kind == EXPLODING_GRADIENTS:
        if transition != RAISED:
            return (
                f"gradient norms are back to normal (total {format_value(evidence['total_norm'])})"
            )
        if evidence.get("nonfinite_layers"):
            return "gradients are NaN/Inf in " + ", ".join(evidence["nonfinite_layers"])
        return (
            f"the gradient norm grew {format_value(evidence['growth'])}x since the fit "
            f"started (total {format_value(evidence['total_norm'])})"
        )
    return kind


def alarm_line(event: Any, epoch_number: int | None = None) -> str:
    """One line for an alarm event: ``alarm raised: kind [severity] (where): message``.

    ``epoch_number`` is the 1-based epoch across the run, as the monitor counts.
    """
    subject = f" {event.subject}" if event.subject else ""
    if event.state == ENDED:
        where = f"with fit {event.fit}"
    elif epoch_number:
        where = f"epoch {epoch_number}, step {event.step}"
    else:
        where = "fit start"
    severity = f" [{event.severity}]" if event.state == RAISED else ""
    return f"alarm {event.state}: {event.kind}{subject}{severity} ({where}): {event.message}"
