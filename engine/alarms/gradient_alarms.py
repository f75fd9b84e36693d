"""The gradient alarms, ``vanishing_gradients`` and ``exploding_gradients``: a probe's
per-layer gradient norms, judged by :class:`~.rules.GradientRule`, and each alarm
raised or cleared in the run's book."""

from __future__ import annotations

from kmon.engine.alarms.book import AlarmBook
from kmon.engine.alarms.kinds import ERROR, EXPLODING_GRADIENTS, RAISED, VANISHING_GRADIENTS
from kmon.engine.alarms.messages import gradient_message
from kmon.engine.alarms.rules import GradientRule


class GradientAlarms:
    """One fit's gradient rule and the alarms it raises and clears in ``book``."""

    def __init__(self, book: AlarmBook) -> None:
        self._book = book
        self.rule = GradientRule()

    def resume(self) -> None:
        """Go on from the alarms the book still holds (an earlier fit's)."""
        self.rule.vanishing.active = self._book.is_active(VANISHING_GRADIENTS)
        self.rule.exploding.active = self._book.is_active(EXPLODING_GRADIENTS)

    def judge(self, norms: dict, loss: float | None, where: dict) -> tuple[dict | None, bool]:
        """Judge one probe's ``norms``; return the vanishing check's evidence and
        whether the rule has seen a vanishing gradient (what the no-learning rule
        weighs)."""
        checked = self.rule.check(norms, loss)
        for kind, (transition, evidence) in checked.items():
            if transition is None:
                continue
            hidden = {"growth"} if kind == VANISHING_GRADIENTS else {"all_near_zero"}
            evidence = {key: value for key, value in evidence.items() if key not in hidden}
            message = gradient_message(kind, transition, evidence)
            if transition == RAISED:
                severity = ERROR if evidence.get("nonfinite_layers") else "warning"
                self._book.raise_(kind, message, evidence, severity=severity, **where)
            else:
                self._book.clear(kind, message, evidence, **where)
        return checked[VANISHING_GRADIENTS][1], self.rule.vanishing.low > 0
