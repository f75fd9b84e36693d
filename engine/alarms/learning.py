"""``no_learning``: the training loss, epoch by epoch, against the constant-predictor
baseline and against itself.

Decided at each epoch end, so after at least one full epoch. An epoch's *level* is
the mean training loss over its second half (from Keras's running means, read after
each batch): the first half of a fit's first epoch still carries the model's start,
worse than any constant, which would hide a model that reached the constant and
stays there. An epoch is *improving* when its level is at least 1% below the
previous epoch's. An epoch is **stuck** when

- nothing can learn: the model has no trainable weights, or the learning rate is 0
  (decided from the first epoch on);
- or, from the second epoch on, its level is at the constant's (no more than 1%
  below the baseline, at most 1% above it, as the issue's rule has it: at 3% above,
  a class-weighted 85/15 classifier still learning (epoch losses 0.754, 0.696,
  0.668 against 0.693) was called stuck in its second epoch) and not improving: a model that learned the label prior, or the mean, and
  nothing more (targets unrelated to the inputs). An epoch of 50 batches or more
  that did not improve from its first half to its second has settled, whatever the
  gain over the previous epoch (that epoch's end still fell). Beating the baseline
  by 0.25%, an epoch whose mean loss still fell by 0.1% counts as improving: a slow
  learner that beats the constant (0.690 against 0.693, falling) is not stuck;
- or it learned little (its level at most 10% below the baseline, or above it) and
  the epoch's mean loss moved less than 0.1% (exact: every epoch sees the same
  samples): weights that do not change, a learning rate far too small (a random
  initialization can start a little better than a constant, and stay there).

A model well below the baseline learned something, and a model that improves,
however slowly, is a slow learner: neither is stuck. Without a baseline (a custom
loss, regularizers in the total) only the first rule applies. The alarm is raised at
the first stuck epoch (an epoch averages many batches) and cleared after
``clear_after`` epochs in a row that improve or stay clearly (2%) below the baseline.
Plain Python: the callback hands in floats; per batch it is O(1).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from kmon.engine.alarms.rules import HIGH, LOW, MID, Hysteresis

#: Improving: the level fell by at least this fraction.
GAIN = 0.01
#: At the constant's level: no more than this fraction below the baseline...
NEAR_BELOW = 0.01
#: ... and no more than this fraction above it.
NEAR_ABOVE = 0.01
#: The epoch's mean loss moved less than this fraction: nothing changes.
FLAT = 0.001
#: Learned little: the level is at most this fraction below the baseline (or above).
LITTLE = 0.1
#: Beating the constant by this fraction (and still falling): a slow learner.
BEATING = 0.0025
#: Epochs of at least this many batches say whether they still improve within.
SETTLED_BATCHES = 50
#: Clearly learning: this fraction below the baseline.
CLEAR_BELOW = 0.02
#: An epoch of fewer batches is too short to be stuck on its own: two such epochs in
#: a row must be (tests/data/real/tf_data_many_epochs.py, 2 batches an epoch, sat
#: 0.5% under its constant for one epoch and then fell to 0.013).
ALONE_BATCHES = 16


@dataclass
class LearningRule:
    """Follows one fit's training loss and decides ``no_learning`` at epoch ends.

    Args:
        baseline: the total's constant-predictor baseline, or None when it is
            unknown or not comparable with the logged loss.
        steps: batches per epoch, when known (else the halves are found by powers
            of two).
        active: the alarm is already active (raised by an earlier fit of the model).
    """

    baseline: float | None = None
    steps: int | None = None
    active: bool = False
    clear_after: int = 2
    enabled: bool = True
    """False once the check failed: it then decides nothing."""
    counter: Hysteresis = field(init=False)
    _marks: list[tuple[int, float]] = field(default_factory=list)
    _last: tuple[int, float] | None = None
    _level: float | None = None
    _mean: float | None = None

    def __post_init__(self) -> None:
        self.counter = Hysteresis(raise_after=1, clear_after=self.clear_after)
        self.counter.active = self.active

    def epoch_begin(self) -> None:
        self._marks = []
        self._last = None

    def batch(self, batch: int, running_mean: float) -> None:
        """After each batch: Keras's running mean of the loss so far. O(1)."""
        self.batches(((batch, running_mean),))

    def batches(self, ends: Iterable[tuple[int, float]]) -> None:
        """:meth:`batch` for ``(batch, running mean)`` pairs in order, in one pass."""
        if not self.enabled:
            return
        half = self.steps // 2 if self.steps else None
        marks, last = self._marks, self._last
        for batch, running_mean in ends:
            count = batch + 1
            # Where Keras calls batch ends from a thread pool (JAX, torch), a late
            # one must not move the epoch back.
            if last is not None and count < last[0]:
                continue
            last = (count, running_mean)
            if (half and count <= half) or (not half and count & (count - 1) == 0):
                if marks and half:
                    marks[-1] = last
                else:
                    marks.append(last)
        self._last = last

    def epoch_end(
        self, loss: float | None, *, trainable: int | None = None, learning_rate: float | None = None
    ) -> tuple[str | None, dict[str, Any]]:
        """Judge the epoch that ended with training loss ``loss`` (History's).

        Returns ``(transition or None, evidence)``.
        """
        if not self.enabled:
            return None, {}
        first, level = self._halves(loss)
        if level is None or not math.isfinite(level):
            return None, {}
        reference = self._level if self._level is not None else None
        previous_mean, self._mean = self._mean, loss
        self._level = level
        change = (reference - level) / abs(reference) if reference else None
        # An epoch that no longer improves within itself (a long one: a few dozen
        # batches' halves differ by chance) owes a gain over the previous epoch to
        # that one's end: it has settled.
        batches = self._last[0] if self._last is not None else 0
        settled = first is not None and batches >= SETTLED_BATCHES and first - level < FLAT * first
        improving = change is not None and change >= GAIN and not settled
        moved = (
            abs(previous_mean - loss) / abs(previous_mean)
            if previous_mean and loss is not None and math.isfinite(loss)
            else None
        )
        frozen = trainable == 0
        no_rate = learning_rate is not None and learning_rate == 0
        baseline = self.baseline
        evidence: dict[str, Any] = {"loss": level, "epoch_loss": loss}
        if first is not None:
            evidence["first_half_loss"] = first
            evidence["within_epoch_pct"] = 100 * (first - level) / abs(first) if first else 0.0
        if baseline is not None:
            evidence["baseline"] = baseline
            evidence["better_pct"] = 100 * (baseline - level) / abs(baseline)
        if change is not None:
            evidence["improvement_pct"] = 100 * change
        if moved is not None:
            evidence["epoch_change_pct"] = 100 * moved
        if trainable is not None:
            evidence["trainable_weights"] = trainable
        if learning_rate is not None:
            evidence["learning_rate"] = learning_rate
        at_constant = little = False
        if baseline is not None and change is not None:
            at_constant = (1 - NEAR_BELOW) * baseline <= level <= (1 + NEAR_ABOVE) * baseline
            little = level >= (1 - LITTLE) * baseline
        # Below the constant and still moving down: a slow learner (a memorizing model
        # gets there too, but only once it is past the constant).
        creeping = baseline is not None and level < (1 - BEATING) * baseline
        creeping = creeping and moved is not None and moved >= FLAT and loss < previous_mean
        self.counter.raise_after = 1 if frozen or no_rate or batches >= ALONE_BATCHES else 2
        if frozen or no_rate:
            verdict = LOW
        elif at_constant and not (improving or creeping):
            verdict = LOW
        elif little and moved is not None and moved < FLAT:
            verdict = LOW
        elif improving or (baseline is not None and level < (1 - CLEAR_BELOW) * baseline):
            verdict = HIGH
        else:
            verdict = MID
        return self.counter.update(verdict), evidence

    def _halves(self, loss: float | None) -> tuple[float | None, float | None]:
        """The mean loss over the epoch's first half and over its second half."""
        last = self._last
        if last is None:
            return None, loss
        count, mean = last
        if loss is not None and math.isfinite(loss):
            mean = loss  # History's value: the same running mean, at the epoch's end
        marks = [(c, m) for c, m in self._marks if 0 < c <= count // 2]
        if not marks:
            return None, mean
        half, half_mean = marks[-1]
        return half_mean, (count * mean - half * half_mean) / (count - half)

    @property
    def last_step(self) -> int | None:
        """The index of the epoch's last batch seen (None before one)."""
        return self._last[0] - 1 if self._last is not None else None
