"""The probes' time budget: when a probe may run so that probes take a set share of
training time (:class:`ProbeBudget`), the early schedule of a model's first epochs,
what a probe costs the steps after it (:class:`ProbeAftermath`), and a model's
budget carried from one fit to the next."""

from __future__ import annotations

import math
import weakref
from dataclasses import dataclass, field
from typing import Any

from kmon.engine.alarms.probe_config import ProbeConfig

#: A model's first epochs, in which probes follow the early schedule.
EARLY_EPOCHS = 2
#: On the early schedule, probes may take this share of training time at most (the
#: debt above ``share`` is paid back from later credit).
EARLY_SHARE = 0.05
#: A budget owes at most this many seconds of training's earning. The early
#: schedule's checks (up to 5% of a model's first two epochs) are not paid back
#: over the minutes after them, which would have no probe at all at a small share
#: (at 0.15%, a minute for every 90 ms of checks; an hour for a model with
#: minute-long epochs): over a long run the probes keep to their share but for
#: that one-off spend, bounded by the early schedule's own 5%.
MAX_DEBT_SECONDS = 5.0

#: Where each model's budgets stood at the end of its last fit, by probe kind.
_budgets: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def probe_budgets(config: ProbeConfig) -> tuple[ProbeBudget, ProbeBudget]:
    """A fit's budgets for prediction and gradient probes, as ``config`` sets them."""
    predictions = ProbeBudget(
        config.budget,
        every=config.every,
        interval=config.interval,
        early_checks=config.early_checks,
    )
    gradients = ProbeBudget(
        config.gradient_budget,
        first_cost=config.gradient_first_cost,
        every=config.gradient_every,
        interval=config.gradient_interval,
        early_checks=config.gradient_early_checks,
    )
    return predictions, gradients


def keep_budget(model: Any, kind: str, budget: ProbeBudget) -> None:
    """Remember where ``model``'s budget for ``kind`` stands, for its next fit: a
    script that calls fit() many times (one epoch each, say) probes as often as one
    long fit would."""
    _budgets.setdefault(model, {})[kind] = (budget.estimate, budget.credit, budget.early_epochs)


def resume_budget(
    model: Any, kind: str, budget: ProbeBudget, steps_per_epoch: int | None = None
) -> None:
    """Continue from an earlier fit of ``model``: its credit, its cost estimate (the
    probe is compiled already, so every call is charged) and what is left of its
    early schedule; a new model starts its early schedule. ``steps_per_epoch`` (None:
    unknown, then there is no early schedule) spaces the early probes."""
    budget.steps_per_epoch = steps_per_epoch if steps_per_epoch and steps_per_epoch > 0 else None
    kept = _budgets.get(model, {}).get(kind)
    if kept is None:
        budget.early_epochs = float(EARLY_EPOCHS)
        return
    estimate, credit, budget.early_epochs = kept
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

    **Early schedule.** In a model's first :data:`EARLY_EPOCHS` epochs (known steps
    per epoch, set by :func:`resume_budget`), a probe is also due every
    ``1/early_checks`` of an epoch, whatever the credit and ``interval``, as long as
    the calls charged stay within :data:`EARLY_SHARE` of the fit's training time: an
    alarm needs 2 or 3 checks in a row, and a run that fails should hear it within
    its first two epochs. By steps, so the same checks come on a fast machine and a
    slow one (by credit, a 2.4 s epoch got the first gradient check 2.5 s into
    training, and an 0.3 s one got a prediction probe every other epoch). The
    credit goes into debt, which the time-based schedule pays back afterwards: over
    a long run the probes keep to ``share``, but for what is forgiven of a debt over
    :data:`MAX_DEBT_SECONDS` of earning.
    """

    share: float
    first_cost: float = 0.0
    every: int | None = None
    interval: float = 0.0
    """Seconds of training at least between two calls (when not ``every``)."""
    early_checks: int = 0
    """Probes per epoch on the early schedule (0: none)."""
    early_epochs: float = 0.0
    """Epochs of the early schedule left."""
    steps_per_epoch: int | None = None
    trained: float = 0.0
    """Seconds of training this fit (probe time excluded)."""
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

    def tick(self, seconds: float, steps: int = 1) -> None:
        """``steps`` training steps took ``seconds`` (probe time excluded)."""
        tick_budgets((self,), seconds, steps)

    def steps_until_due(self, step_seconds: float) -> int:
        """Steps before :attr:`due` can turn true, if each takes ``step_seconds``
        (at least 1): exact for ``every`` and the early schedule, by the credit and
        ``interval`` otherwise (steps slower than that bring it sooner)."""
        if self.every is not None:
            return 1 if self.calls == 0 else max(1, self.every - self._since)
        wait = math.inf
        if self.early_checks > 0 and self.early_epochs > 0 and self.steps_per_epoch:
            spacing = max(1, self.steps_per_epoch // self.early_checks)
            if self._since < spacing:  # past it, the share holds it back: no bound
                wait = spacing - self._since
        cost = self.estimate if self.estimate is not None else self.first_cost
        need = (cost - self.credit) / (self.share * step_seconds) if self.share > 0 else math.inf
        if self.calls and self._waited < self.interval:
            need = max(need, (self.interval - self._waited) / step_seconds)
        return max(1, min(wait, math.ceil(need) if need < math.inf else math.inf))

    @property
    def due(self) -> bool:
        if self.every is not None:
            return self.calls == 0 or self._since >= self.every
        # Due on the early schedule: a fraction of an epoch since the last call, with
        # the calls charged so far within EARLY_SHARE of training time (inline, not a
        # property of its own: a call costs about 2 µs on a look's cold caches).
        if self.early_checks > 0 and self.early_epochs > 0 and self.steps_per_epoch:
            spacing = max(1, self.steps_per_epoch // self.early_checks)
            if self._since >= spacing and self.charged <= EARLY_SHARE * self.trained:
                return True
        if self.calls and self._waited < self.interval:
            return False
        cost = self.estimate if self.estimate is not None else self.first_cost
        return self.credit >= cost

    def charge(self, seconds: float) -> None:
        """Time the probe cost outside its call: the steps after it ran slower
        (see :class:`ProbeAftermath`); negative when they ran faster."""
        self.credit = max(self.credit - seconds, -self.share * MAX_DEBT_SECONDS)
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
        self.credit = max(self.credit - seconds, -self.share * MAX_DEBT_SECONDS)
        self.charged += seconds
        self.estimate = seconds if self.estimate is None else 0.7 * self.estimate + 0.3 * seconds


def tick_budgets(budgets: tuple[ProbeBudget, ...], seconds: float, steps: int) -> None:
    """:meth:`ProbeBudget.tick` each of ``budgets``: in one frame, for a look (a call
    costs about 2 µs on the cold caches between two steps)."""
    for budget in budgets:
        budget.credit += budget.share * seconds
        budget.trained += seconds
        if budget.early_epochs > 0 and budget.steps_per_epoch:
            budget.early_epochs -= steps / budget.steps_per_epoch
        budget.steps += steps
        budget._since += steps
        budget._waited += seconds


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
    validation) is no step at all and is left out. From then on the steps after a
    probe may come as one span (:meth:`span`), a span with such a gap among them
    left out whole.

    Args:
        steps: how many steps after a probe are charged to it.
        warm_steps: steps that follow no probe before anything is charged.
    """

    steps: int = 8
    warm_steps: int = 16
    typical: float | None = None
    """Seconds of a step that follows no probe (moving average)."""
    seen: int = field(default=0, repr=False)
    """Steps that followed no probe, so far, in the typical step (an attribute a look
    reads inline: see :attr:`settled`)."""
    left: int = field(default=0, repr=False)
    """Steps after the last probe still to be charged to it (an attribute, not a
    property: a look reads it on cold caches)."""
    _budgets: tuple[ProbeBudget, ...] = field(default=(), repr=False)

    def probed(self, budgets: tuple[ProbeBudget, ...]) -> None:
        """These budgets' probes just ran: charge them the next steps' excess."""
        self._budgets = budgets
        self.left = self.steps

    @property
    def settled(self) -> bool:
        """The typical step is known from :attr:`warm_steps` steps: the steps after a
        probe are charged to it (:attr:`left` of them, as one span or step by step)."""
        return self.typical is not None and self.seen >= self.warm_steps

    def span(self, seconds: float, count: int) -> None:
        """``count`` steps took ``seconds`` in all, probe calls excluded: the typical
        step moves as :meth:`step` would move it for ``count`` steps of their mean;
        steps after a probe are charged as :meth:`step` charges them one by one, the
        whole span left out where a gap is among them."""
        if count == 1:
            self.step(seconds)
            return
        mean, typical = seconds / count, self.typical
        if typical is None:
            self.typical, self.seen = mean, 1
            return
        if self.left:
            # Timed as one span between two looks (a look a step costs the training
            # thread more than the steps' noise); mean > 3 typical: a gap among them
            # (an epoch's end, validation), which is no step.
            charged, self.left = min(count, self.left), max(0, self.left - count)
            if mean <= 3 * typical and self.seen >= self.warm_steps:
                share = charged * (mean - typical) / len(self._budgets)
                for budget in self._budgets:
                    budget.charge(share)
            return
        if 3 * mean < typical:
            self.typical, self.seen = mean, 1
            return
        if mean > 3 * typical:
            return  # a gap among them (an epoch's end, validation): no steps at all
        # As count steps of the mean would move it one by one: a running mean for
        # the first 10 seen, then a moving average of weight 0.1, whose count steps
        # come in one power (a look's loop over ~100 steps cost ~10 µs).
        seen = self.seen
        while seen < 9 and count:
            seen, count = seen + 1, count - 1
            typical += (mean - typical) / seen
        self.seen = seen + count
        self.typical = mean + (typical - mean) * 0.9**count

    def step(self, seconds: float) -> None:
        """A step (and the hooks around it) took ``seconds``, probe calls excluded."""
        typical = self.typical
        if typical is None or 3 * seconds < typical:
            # A fit's first step traces the train function: start over from a real one.
            self.typical, self.seen = seconds, 1
            return
        if seconds > 3 * typical:
            return
        if self.left:
            self.left -= 1
            if self.seen >= self.warm_steps:
                share = (seconds - typical) / len(self._budgets)
                for budget in self._budgets:
                    budget.charge(share)
            return
        self.seen += 1
        self.typical = typical + max(1 / self.seen, 0.1) * (seconds - typical)
