"""The rules of the ``dead_units`` and ``class_collapse`` alarms: thresholds and
hysteresis over consecutive prediction probes. Plain Python, free of Keras; the
measurements come from :mod:`.units` and :mod:`.class_shares`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kmon.engine.alarms.class_shares import ClassShares
from kmon.engine.alarms.rules import HIGH, HOLD, LOW, MID, Hysteresis


@dataclass
class DeadUnitsRule:
    """One ReLU-family layer's dead units, check after check.

    A unit is dead when its output is exactly 0 for every probe sample. A check is
    low when at least ``threshold`` of the layer's units are dead; it clears once
    fewer than ``clear`` are, for ``clear_after`` checks. Dead ReLUs get no gradient,
    so they rarely come back by themselves; the raise waits for ``raise_after``
    checks all the same, as every probe alarm does.
    """

    threshold: float = 0.75
    clear: float = 0.6
    raise_after: int = 3
    clear_after: int = 2
    counter: Hysteresis = field(init=False)

    def __post_init__(self) -> None:
        self.counter = Hysteresis(self.raise_after, self.clear_after)

    def verdict(self, fraction: float) -> str:
        if fraction >= self.threshold:
            return LOW
        return HIGH if fraction < self.clear else MID

    def update(self, dead: int, units: int) -> str | None:
        """Count one check of ``dead`` units out of ``units``; returns ``"raised"``,
        ``"cleared"`` or None."""
        return self.counter.update(self.verdict(dead / units) if units else HOLD)


@dataclass
class ClassCollapseRule:
    """One classifier head's predicted classes against its labels, check after check.

    A check is low when the head predicts its labels' most common class for at least
    ``threshold`` of the probe samples, while at least two classes hold ``minority``
    of the labels or more each and the most common one holds at least ``imbalance``
    times the next one's share: the collapse onto the majority that imbalanced
    labels invite, and that accuracy hides (it reads as the majority's share).
    Labels nearly all of one class, or about as common as each other, are not
    judged (``hold``): a head that predicts one class for every input of balanced
    labels shows in its accuracy (constant outputs are ``prediction_variance``'s
    case), and one that has not learned yet predicts an arbitrary class for a while
    (a 3-class CNN on balanced labels did until its third epoch). A check is high
    once the top share is under the larger of ``clear`` and the midpoint between
    ``threshold`` and the labels' own top share: a head that learned 90/10 labels
    predicts its top class for about 90% of them, which must count as recovered.
    """

    threshold: float = 0.95
    clear: float = 0.9
    minority: float = 0.1
    imbalance: float = 1.5
    min_samples: int = 20
    raise_after: int = 3
    clear_after: int = 2
    counter: Hysteresis = field(init=False)

    def __post_init__(self) -> None:
        self.counter = Hysteresis(self.raise_after, self.clear_after)

    def judged(self, shares: ClassShares) -> bool:
        """The labels allow a verdict: two classes of at least ``minority`` each, the
        most common one ``imbalance`` times the next, and enough samples that a tenth
        of them is more than a few."""
        common = [share for _cls, share in shares.labels if share >= self.minority]
        return (
            len(common) >= 2
            and common[0] >= self.imbalance * common[1]
            and shares.samples >= self.min_samples
        )

    def clear_below(self, shares: ClassShares) -> float:
        top_label = shares.labels[0][1] if shares.labels else 0.0
        return max(self.clear, (self.threshold + top_label) / 2)

    def verdict(self, shares: ClassShares) -> str:
        if not self.judged(shares):
            return HOLD
        if shares.predicted_share < self.clear_below(shares):
            return HIGH
        majority = shares.predicted == shares.labels[0][0]
        return LOW if majority and shares.predicted_share >= self.threshold else MID

    def update(self, shares: ClassShares) -> str | None:
        return self.counter.update(self.verdict(shares))

    def evidence(self, head: str, shares: ClassShares, transition: str) -> dict[str, Any]:
        """The numbers a ``class_collapse`` transition was decided on."""
        return {
            "head": head,
            "predicted_class": shares.predicted,
            "predicted_share": shares.predicted_share,
            "label_share": shares.label_share(shares.predicted),
            "labels": [f"{cls}: {share:.0%}" for cls, share in shares.labels[:4]],
            "threshold": self.threshold,
            "clear_below": self.clear_below(shares),
            "checks": self.raise_after if transition == "raised" else self.clear_after,
            "probe_samples": shares.samples,
        }
