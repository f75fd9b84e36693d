"""Training alarm rules: thresholds, consecutive-check counters and hysteresis.

Everything here is plain Python and free of Keras, so the decisions can be tested
on numbers alone. The probes (:mod:`.spread`, :mod:`.gradients`) measure,
:mod:`.probe_callback` hands the numbers to the rules below, and an
:class:`~.book.AlarmBook` turns their verdicts into ``alarm`` events.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from kmon.engine.alarms.kinds import CLEARED, EXPLODING_GRADIENTS, RAISED, VANISHING_GRADIENTS

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
