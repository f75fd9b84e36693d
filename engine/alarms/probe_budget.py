"""The probes' time budget: when a probe may run so that probes take a set share of
training time (:class:`ProbeBudget`), what a probe costs the steps after it
(:class:`ProbeAftermath`), and a model's budget carried from one fit to the next."""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from typing import Any

#: Where each model's budgets stood at the end of its last fit, by probe kind.
_budgets: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def keep_budget(model: Any, kind: str, budget: ProbeBudget) -> None:
    """Remember where ``model``'s budget for ``kind`` stands, for its next fit: a
    script that calls fit() many times (one epoch each, say) probes as often as one
    long fit would."""
    _budgets.setdefault(model, {})[kind] = (budget.estimate, budget.credit)


def resume_budget(model: Any, kind: str, budget: ProbeBudget) -> None:
    """Continue from an earlier fit of ``model``: its credit, and its cost estimate
    (the probe is compiled already, so every call is charged)."""
    kept = _budgets.get(model, {}).get(kind)
    if kept is None:
        return
    estimate, credit = kept
    budget.credit = credit
    if estimate is not None:
        budget.estimate, budget.warm = estimate, True


@dataclass
class ProbeBudget:
    """Decides when a probe may run so that it takes ``share`` of training time.

    Every step adds ``share`` times the training time since the last step (probe
    time excluded) to a credit; a probe is due once the credit covers its expected
    cost, and its measured cost is then taken off. The first call is not charged:
    it compiles once (``tf.function`` tracing) and never costs that again; its cost
    is kept in ``one_time``. A ``warm`` budget (the probe ran in an earlier fit of
    the same model) starts from that fit's ``estimate`` and charges every call. With
    ``every`` set, a probe is due every that many steps.
    """

    share: float
    first_cost: float = 0.0
    every: int | None = None
    interval: float = 0.0
    """Seconds of training at least between two calls (when not ``every``)."""
    credit: float = 0.0
    estimate: float | None = None
    warm: bool = False
    """The probe already ran in an earlier fit of the model: charge every call."""
    calls: int = 0
    charged: float = 0.0
    """Seconds taken off the credit: calls after the first, and :attr:`after`."""
    after: float = 0.0
    """Seconds charged for the steps after calls (see :meth:`charge`)."""
    one_time: float = 0.0
    steps: int = 0
    _since: int = field(default=0, repr=False)
    _waited: float = field(default=0.0, repr=False)

    def tick(self, seconds: float) -> None:
        """One training step took ``seconds`` (probe time excluded)."""
        self.credit += self.share * seconds
        self.steps += 1
        self._since += 1
        self._waited += seconds

    @property
    def due(self) -> bool:
        if self.every is not None:
            return self.calls == 0 or self._since >= self.every
        if self.calls and self._waited < self.interval:
            return False
        cost = self.estimate if self.estimate is not None else self.first_cost
        return self.credit >= cost

    def charge(self, seconds: float) -> None:
        """Time the probe cost outside its call: the steps after it ran slower
        (see :class:`ProbeAftermath`); negative when they ran faster."""
        self.credit -= seconds
        self.charged += seconds
        self.after += seconds

    def spent(self, seconds: float) -> None:
        """A probe ran and took ``seconds``."""
        self.calls += 1
        self._since = 0
        self._waited = 0.0
        if self.calls == 1 and not self.warm:
            self.one_time += seconds
            return
        self.credit -= seconds
        self.charged += seconds
        self.estimate = seconds if self.estimate is None else 0.7 * self.estimate + 0.3 * seconds


@dataclass
class ProbeAftermath:
    """Charges each probe for the steps after it, not only for the call itself.

    A probe runs other functions between two training steps, and the next steps
    then run slower while caches and TensorFlow's threads warm up to the training
    step again: on a 2 ms/step MLP the steps after a prediction probe took about
    1 ms more in all, half again its 2 ms call, and after a gradient probe about
    1.4 ms more. Unaccounted, that made probes within their budget cost more than
    their share. Each step's time is compared with a typical step (a moving
    average of the steps that follow no probe) and the difference, over
    :attr:`steps` steps, is charged to the budgets of the probes that ran: on each
    machine the budget then holds the probes to their share as a whole.

    The first steps of a fit run slower than later ones (for tens of steps), so
    nothing is charged until :attr:`warm_steps` steps that follow no probe have
    set the typical step; a gap of more than three typical steps (an epoch's end,
    validation) is no step at all and is left out.

    Args:
        steps: how many steps after a probe are charged to it.
        warm_steps: steps that follow no probe before anything is charged.
    """

    steps: int = 8
    warm_steps: int = 16
    typical: float | None = None
    """Seconds of a step that follows no probe (moving average)."""
    _seen: int = field(default=0, repr=False)
    _left: int = field(default=0, repr=False)
    _budgets: tuple[ProbeBudget, ...] = field(default=(), repr=False)

    def probed(self, budgets: tuple[ProbeBudget, ...]) -> None:
        """These budgets' probes just ran: charge them the next steps' excess."""
        self._budgets = budgets
        self._left = self.steps

    def step(self, seconds: float) -> None:
        """A step (and the hooks around it) took ``seconds``, probe calls excluded."""
        typical = self.typical
        if typical is None or 3 * seconds < typical:
            # A fit's first step traces the train function: start over from a real one.
            self.typical, self._seen = seconds, 1
            return
        if seconds > 3 * typical:
            return
        if self._left:
            self._left -= 1
            if self._seen >= self.warm_steps:
                share = (seconds - typical) / len(self._budgets)
                for budget in self._budgets:
                    budget.charge(share)
            return
        self._seen += 1
        self.typical = typical + max(1 / self._seen, 0.1) * (seconds - typical)
