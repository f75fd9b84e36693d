"""Collapse or not learning yet: one head's prediction spread judged together with
its loss against the constant-predictor baseline, check after check.

Low spread alone does not tell a collapsed head from one that learns slowly: a
balanced binary head at loss 0.690 against the prior's 0.693, its accuracy rising,
had log-probabilities varying by 0.043 nats, under the 0.05 threshold. What tells
them apart is the loss. Both are taken on the probe batch, with the head's own loss
function (:mod:`.loss_values`): the head's loss on its predictions, and the best
constant's on the same rows (:mod:`.baselines`), so they compare like for like. A
constant can never beat that baseline on those rows, so a head that does (by more
than float noise) depends on its inputs.

- **collapse** (``prediction_variance``, a warning): the spread is low and not
  growing, and the head's loss is within 1% of the baseline (or above it) without
  gaining on it over the last ``window`` checks, for ``raise_after`` checks in a row.
  Gaining is at least 0.02% of the baseline over the window while the head gains
  from its inputs: its loss under its own mean prediction's by 0.02% of the
  baseline (a head stuck on a constant gains on the baseline too, as its output
  bias moves towards the best constant, but nothing from its inputs). Predictions
  the same for every input to float precision (spread under the rule's floor) are
  stuck whatever the loss does;
- **not learning yet** (``not_learning_yet``, severity info): the spread is low for
  as many checks, but the loss gains on the baseline. It is replaced by the collapse
  warning once the collapse evidence holds for ``raise_after`` checks in a row.

A spread still rising counts as neither (as :class:`~.rules.VarianceRule` says),
except on a head **far worse than the constant** (its loss at least twice the
baseline) whose loss does not close the gap: a sequence LSTM on targets in raw units
(mean 3,500, std 669) had a loss 28 times the baseline, predictions varying by
2e-4 of the targets' spread rising to 3e-3 over seven checks, and closed 0.4% of its
gap to the baseline over four checks. A spread rising that slowly is no learning:
only the output's weights creep, by Adam's step size, and thousands of steps would
not bring it near the targets. A healthy head that starts far off closes its gap
(a regression whose output starts at zero, targets of mean 1.5: a tenth of the gap
within a few checks). So far worse, a check is low (rising or not) unless the loss
closed ``CLOSING`` of the gap over the window, and it counts towards the collapse.
Without a baseline (a custom loss) the spread decides alone, as it always did. Both
clear once the spread is back above ``clear`` for ``clear_after`` checks. Plain
Python.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

from kmon.engine.alarms.kinds import (
    CLEARED,
    NOT_LEARNING_YET,
    PREDICTION_VARIANCE,
    RAISED,
)
from kmon.engine.alarms.rules import HIGH, HOLD, LOW, MID, VarianceRule

#: The head's loss within this fraction of the baseline (or above it): no better
#: than a constant.
NEAR = 0.01
#: Gaining this much more on the baseline (as a fraction of it) over the window of
#: checks is improving...
GAIN = 2e-4
#: ... when the head's inputs lower its loss under its own mean prediction's by at
#: least this fraction of the baseline (a tiny random spread gains ~1e-6).
INPUT_GAIN = 2e-4
#: A head whose loss is at least this many times the baseline is far worse than a
#: constant: its predictions are in another range than its targets.
FAR_WORSE = 2.0
#: ... and learns only if its loss closes this fraction of its gap to the baseline
#: over the window of checks.
CLOSING = 0.1


@dataclass(frozen=True)
class LossEvidence:
    """A head's loss on the probe batch and the best constant's on the same rows."""

    loss: float
    baseline: float
    own_constant: float = math.nan
    """The loss of the head's own mean prediction, the same for every sample."""

    @property
    def input_gain(self) -> float:
        """How much lower the head's loss is than its own mean prediction's, as a
        fraction of the baseline: what it gains from its inputs (0 for a constant
        output, whichever constant it is)."""
        if not (math.isfinite(self.loss) and math.isfinite(self.own_constant)):
            return math.nan
        return (self.own_constant - self.loss) / max(abs(self.baseline), 1e-12)

    @property
    def far_worse(self) -> bool:
        """The loss is at least :data:`FAR_WORSE` times a positive baseline."""
        return (
            math.isfinite(self.loss)
            and math.isfinite(self.baseline)
            and self.baseline > 0
            and self.loss >= FAR_WORSE * self.baseline
        )

    @property
    def better(self) -> float:
        """How much lower the head's loss is than the baseline's, as a fraction of it
        (negative: worse than the best constant)."""
        if not (math.isfinite(self.loss) and math.isfinite(self.baseline)):
            return math.nan
        return (self.baseline - self.loss) / max(abs(self.baseline), 1e-12)


@dataclass
class Verdict:
    """What one check decided: the transitions to make, and the numbers behind them."""

    transitions: list[tuple[str, str]] = field(default_factory=list)
    """``(kind, "raised" | "cleared")`` in order."""
    stuck: bool | None = None
    """The loss evidence of a collapse held (None: no loss evidence)."""
    trend: float | None = None
    """Change of :attr:`LossEvidence.better` over the window of checks."""
    checks: int = 0


@dataclass
class CollapseRule:
    """Decides, for one head, between a collapse, "not learning yet" and nothing.

    Args:
        spread: the spread rule whose verdicts (low, mid, high, hold) are used.
        raise_after: consecutive low checks before either is raised.
        clear_after: consecutive high checks that clear them.
        window: checks the loss trend is measured over.
    """

    spread: VarianceRule = field(default_factory=VarianceRule)
    raise_after: int = 3
    clear_after: int = 2
    window: int = 4
    collapsed: bool = False
    """``prediction_variance`` is active for the head."""
    slow: bool = False
    """``not_learning_yet`` is active for the head."""
    _low: int = 0
    _stuck: int = 0
    _high: int = 0
    _better: deque = field(init=False)

    def __post_init__(self) -> None:
        self._better = deque(maxlen=self.window)

    def update(self, ratio: float, loss: LossEvidence | None) -> Verdict:
        """One check: the spread ratio and, when the head has a baseline, its loss."""
        verdict = Verdict()
        judged = self.spread.verdict(ratio)
        better = loss.better if loss is not None else math.nan
        earlier = [b for b in self._better if math.isfinite(b)]
        if math.isfinite(better):
            self._better.append(better)
        if earlier and math.isfinite(better):
            verdict.trend = better - earlier[0]
        if judged == HIGH:
            self._low = self._stuck = 0
            self._high += 1
            if self._high >= self.clear_after:
                for kind, active in ((PREDICTION_VARIANCE, self.collapsed), (NOT_LEARNING_YET, self.slow)):
                    if active:
                        verdict.transitions.append((kind, CLEARED))
                self.collapsed = self.slow = False
            return verdict
        self._high = 0
        if judged == MID:
            self._low = self._stuck = 0
            return verdict
        far = self._far_and_not_closing(ratio, loss, verdict.trend)
        if judged != LOW and not (judged == HOLD and far is True):
            return verdict  # hold: not finite, or still rising (and not far worse)
        if loss is None or not math.isfinite(better) or ratio < self.spread.floor:
            # No baseline: the spread decides alone. Or the same prediction for every
            # input, to float precision: whatever its loss does, only the constant moves.
            stuck = True
            if loss is not None and math.isfinite(better):
                verdict.stuck = True
        elif far is not None:
            # Far worse than a constant: stuck unless it closes its gap fast, however
            # much the spread rises or the inputs help.
            stuck = verdict.stuck = far
        else:
            # Gaining: the loss gains on the baseline over the window, and the head
            # gains from its inputs (its loss under its own mean prediction's). A head
            # stuck on a constant gains on the baseline too, as its output bias moves
            # towards the best constant, but nothing from its inputs.
            gain = loss.input_gain
            gaining = (verdict.trend or 0.0) > GAIN and math.isfinite(gain) and gain > INPUT_GAIN
            stuck = better < NEAR and not gaining
            verdict.stuck = stuck
        self._low += 1
        self._stuck = self._stuck + 1 if stuck else 0
        verdict.checks = self._stuck if stuck else self._low
        if self._stuck >= self.raise_after and not self.collapsed:
            if self.slow:
                verdict.transitions.append((NOT_LEARNING_YET, CLEARED))
                self.slow = False
            verdict.transitions.append((PREDICTION_VARIANCE, RAISED))
            self.collapsed = True
        elif self._low >= self.raise_after and not (self.collapsed or self.slow) and not stuck:
            verdict.transitions.append((NOT_LEARNING_YET, RAISED))
            self.slow = True
        return verdict

    def _far_and_not_closing(
        self, ratio: float, loss: LossEvidence | None, trend: float | None
    ) -> bool | None:
        """None unless the head is far worse than the constant with a low spread
        (rising or not); then whether its loss closed less than :data:`CLOSING` of
        its gap to the baseline over the window."""
        if loss is None or not loss.far_worse:
            return None
        if not (math.isfinite(ratio) and ratio < self.spread.threshold):
            return None
        return (trend or 0.0) < CLOSING * -loss.better
