"""How often :class:`~.probe_callback.ProbeCallback`'s batch hooks look at their
probes: the common batch only counts down, and the looks in between time the steps
in spans and tick the budgets with them.

Between two training steps the hooks run on cold caches, where even a few attribute
reads and clock calls cost microseconds. A look works out how many steps can pass
before a probe could be due (:meth:`ProbeBudget.steps_until_due
<.probe_budget.ProbeBudget.steps_until_due>`: exact for a probe every N steps and
for the early schedule, by the credit otherwise), at most :data:`MAX_WAIT_STEPS`
and :data:`MAX_WAIT_SECONDS` of typical steps, and the steps after a probe as
one span, whose excess over typical steps is charged to it
(:class:`~.probe_budget.ProbeAftermath`). Plain Python, free of Keras.
"""

from __future__ import annotations

import time

from kmon.engine.alarms.probe_budget import ProbeAftermath, ProbeBudget, tick_budgets

#: At most this many steps between two looks...
MAX_WAIT_STEPS = 128
#: ...and about this much training time: a probe whose steps ran slower than the
#: typical one (its credit grew faster) comes at most this late. A look costs the
#: training thread 20-80 µs on the cold caches between two steps (it times the
#: steps, ticks the budgets, reads the losses), so it is not made more often: probes
#: come at most once every 2 s of each kind, and 10 looks a second cost a 12 ms
#: step 0.1-0.3%.
MAX_WAIT_SECONDS = 0.25
#: Steps between looks while a fit's first steps set the typical one: as many as a
#: probe's aftermath (:attr:`ProbeAftermath.steps <.probe_budget.ProbeAftermath.steps>`),
#: so the steps after the fit's first probes go in one span, and the typical step
#: is set by its warm steps in two (4 took six looks a fit at 40-50 µs each).
WARM_WAIT_STEPS = 8


class ProbePacing:
    """Times the steps from one look to the next and spaces the looks.

    Attributes:
        mark: ``perf_counter`` at the end of the last look (None: no step timed yet).
        span: steps from the last look to the next (the wait it set).
    """

    def __init__(self) -> None:
        self.mark: float | None = None
        self.span = 1

    def start(self) -> None:
        """A fit begins: its first step is timed on its own."""
        self.mark, self.span = None, 1

    def elapse(
        self, aftermath: ProbeAftermath, predictions: ProbeBudget, gradients: ProbeBudget | None
    ) -> None:
        """At a look: charge the steps since the last look to the budgets."""
        if self.mark is None:
            return
        elapsed, count = time.perf_counter() - self.mark, self.span
        aftermath.span(elapsed, count)
        both = (predictions,) if gradients is None else (predictions, gradients)
        tick_budgets(both, elapsed, count)

    def next_wait(
        self,
        aftermath: ProbeAftermath,
        predictions: ProbeBudget | None,
        gradients: ProbeBudget | None,
        *,
        every_step: bool = False,
    ) -> int:
        """End a look: batches until the next one (1: the next batch). ``predictions``
        None: no probe runs (the look only settles the losses); ``every_step``: the
        caller needs every batch for now (heads unknown yet)."""
        self.mark = time.perf_counter()
        typical = aftermath.typical
        if every_step:
            wait = 1
        elif predictions is None:
            wait = MAX_WAIT_STEPS
        elif not typical:
            wait = 1
        else:
            wait = max(1, min(MAX_WAIT_STEPS, int(MAX_WAIT_SECONDS / typical)))
            if aftermath.seen < aftermath.warm_steps:  # not settled (inline: no call)
                wait = min(wait, WARM_WAIT_STEPS)
            elif aftermath.left:
                wait = min(wait, aftermath.left)  # the steps after a probe: one span
            wait = min(wait, predictions.steps_until_due(typical))
            if gradients is not None:
                wait = min(wait, gradients.steps_until_due(typical))
        self.span = wait
        return wait
