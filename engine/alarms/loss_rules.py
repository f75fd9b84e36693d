"""Rules on the losses themselves: ``overfitting`` from the epoch-end validation and
training losses, ``unstable_training`` from per-batch spikes and a rising epoch loss.

Plain Python, free of Keras, so the decisions can be tested on numbers alone;
:mod:`.epoch_watch` feeds them during a fit. The per-batch part
(:meth:`SpikeCounter.add`) runs after every batch: a few float operations and a
deque append, with the median of a short window sorted only every ``refresh``
batches; everything else waits for the epoch's end.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from statistics import median
from typing import Any

from kmon.engine.alarms.kinds import CLEARED, RAISED

SPIKES, RISING, REBOUND = "spikes", "rising", "rebound"
"""What raised ``unstable_training`` (its evidence's ``cause``)."""


@dataclass
class OverfitRule:
    """``overfitting`` for one validation loss (``val_loss`` or a head's), decided at
    epoch ends.

    Raised when the validation loss has stayed above its best for at least
    ``epochs`` validated epochs and is now more than a tolerance above it, while the
    training loss is lower than it was at the best epoch. The tolerance is
    ``noise_factor`` times the median absolute epoch-to-epoch change of the
    validation loss over its last ``noise_window`` changes (how much it moves by
    itself), and at least ``relative_floor`` times the best. Cleared when the
    validation loss comes back within ``clear_fraction`` of the tolerance of its best,
    or makes a new best.
    """

    epochs: int = 3
    noise_factor: float = 2.0
    noise_window: int = 6
    relative_floor: float = 0.01
    clear_fraction: float = 0.5
    active: bool = False
    best: float | None = None
    best_epoch: int | None = None
    best_train: float | None = None
    since_best: int = 0
    inherited_tolerance: float = 0.0
    """The tolerance of an alarm raised by an earlier fit, which this one may clear."""
    last: float | None = None
    changes: deque = field(init=False)

    def __post_init__(self) -> None:
        self.changes = deque(maxlen=self.noise_window)

    def inherit(self, evidence: dict[str, Any]) -> None:
        """Carry on an alarm an earlier fit of the model raised: its best and
        tolerance, so that this fit clears it only when the loss comes back to them."""
        best, tolerance = evidence.get("best"), evidence.get("tolerance")
        if not _finite(best) or not _finite(tolerance):
            return
        self.active = True
        self.best, self.inherited_tolerance = float(best), float(tolerance)
        epoch, train = evidence.get("best_epoch"), evidence.get("train_loss_at_best")
        self.best_epoch = epoch - 1 if isinstance(epoch, int) else None
        self.best_train = float(train) if _finite(train) else None

    def update(self, epoch: int, val: float, train: float) -> tuple[str | None, dict[str, Any]]:
        """One epoch's validation and training losses; returns ``(transition or None,
        evidence)``. Non-finite losses are skipped (``nan_loss`` covers them)."""
        if not (_finite(val) and _finite(train)):
            return None, {}
        if self.last is not None:
            self.changes.append(abs(val - self.last))
        self.last = val
        if self.best is None or val < self.best:
            self.best, self.best_epoch, self.best_train, self.since_best = val, epoch, train, 0
        else:
            self.since_best += 1
        noise = median(self.changes) if self.changes else 0.0
        tolerance = max(
            self.noise_factor * noise,
            self.relative_floor * abs(self.best),
            self.inherited_tolerance,
        )
        rise = val - self.best
        evidence = {
            "best": self.best,
            "best_epoch": None if self.best_epoch is None else self.best_epoch + 1,
            "current": val,
            "rise": rise,
            "tolerance": tolerance,
            "typical_change": noise,
            "epochs_since_best": self.since_best,
            "train_loss_at_best": self.best_train,
            "train_loss": train,
        }
        if not self.active:
            falling = self.best_train is not None and train < self.best_train
            if self.since_best >= self.epochs and rise > tolerance and falling:
                self.active = True
                return RAISED, evidence
        elif rise <= self.clear_fraction * tolerance:
            self.active = False
            evidence["clear_within"] = self.clear_fraction * tolerance
            return CLEARED, evidence
        return None, evidence


class SpikeCounter:
    """Per-batch losses against their running median, a few float operations a batch.

    A loss is a spike when it is above ``factor`` times the median of the last
    ``window`` losses, and above ``floor`` times the highest such median of the fit
    (a loss that fell by orders of magnitude moves by large factors in batches that
    still weigh nothing against where it started). The median is taken every
    ``refresh`` losses, once ``refresh`` are known; losses that are not finite, and
    a median that is not positive (a loss that may be negative), are not judged.
    Spikes come in a cluster when ``spikes`` of them fall within ``within`` batches.

    Kept per epoch for :class:`UnstableRule`: the spikes, whether they clustered,
    the largest and the median it was judged against, and how far the running
    median climbed back above the lowest it had in the fit while it stayed at least
    ``rebound`` times that for a whole window (``window`` losses; a few hard batches
    lift it for less) (:meth:`next_epoch` resets).

    Args:
        factor: how many times the running median a spike is.
        window: losses the running median is taken over.
        refresh: losses between two medians.
        spikes: spikes that make a cluster...
        within: ...within this many batches.
        floor: share of the fit's highest running median a spike must exceed.
        rebound: how many times its lowest the running median must climb back to
            count as a rebound.
    """

    __slots__ = (
        "factor", "window", "refresh", "spikes", "within", "floor", "recent", "count",
        "next_median", "median", "highest", "limit", "marks", "epoch_spikes", "clustered",
        "largest", "largest_median", "rebound", "lowest", "up", "climb", "climb_to",
    )  # fmt: skip

    def __init__(
        self,
        factor: float = 10.0,
        window: int = 32,
        refresh: int = 8,
        spikes: int = 3,
        within: int = 64,
        floor: float = 0.05,
        rebound: float = 1.5,
    ) -> None:
        self.factor, self.window, self.refresh = factor, window, refresh
        self.rebound = rebound
        self.lowest = math.inf
        """The lowest running median of the fit."""
        self.up = 0
        """Medians in a row at least ``rebound`` times the lowest."""
        self.spikes, self.within, self.floor = spikes, within, floor
        self.recent: deque[float] = deque(maxlen=window)
        self.count = 0
        self.next_median = refresh
        self.median: float | None = None
        self.highest = 0.0
        self.limit = math.inf
        """A loss above this is a spike (infinite until a median is known)."""
        self.marks: deque[int] = deque()
        """Where the recent spikes were (in losses counted)."""
        self.next_epoch()

    def next_epoch(self) -> None:
        """Start the epoch's counts afresh (the median and recent spikes carry on)."""
        self.epoch_spikes = 0
        self.clustered = False
        self.largest = 0.0
        self.largest_median = 0.0
        self.climb = 0.0
        """This epoch's largest climb of the running median above the fit's lowest."""
        self.climb_to = 0.0

    def add(self, value: float) -> None:
        """Count one batch's own loss."""
        self.add_all((value,))

    def add_all(self, values: Iterable[float]) -> None:
        """Count batches' own losses, in order, in one pass (the common loss is one
        append and two comparisons)."""
        recent = self.recent
        count, next_median, limit = self.count, self.next_median, self.limit
        for value in values:
            if not -math.inf < value < math.inf:
                continue
            recent.append(value)
            count += 1
            if count >= next_median:
                self.count = count
                self._take_median()
                next_median, limit = self.next_median, self.limit
            if value > limit:
                self.count = count
                self._spike(value)
        self.count = count

    def _spike(self, value: float) -> None:
        """A loss above the limit, the ``count``-th."""
        self.epoch_spikes += 1
        if value > self.largest:
            self.largest, self.largest_median = value, self.median
        marks = self.marks
        marks.append(self.count)
        while marks[0] <= self.count - self.within:
            marks.popleft()
        if len(marks) >= self.spikes:
            self.clustered = True

    def _take_median(self) -> None:
        """The running median and the limit it sets, every ``refresh`` losses."""
        self.next_median = self.count + self.refresh
        ordered = sorted(self.recent)
        middle = ordered[len(ordered) // 2]
        self.median = middle
        if middle <= 0:
            self.limit = math.inf
            return
        self.highest = max(self.highest, middle)
        if self.count >= self.window:  # a full window: not the fit's first batches
            lowest = self.lowest = min(self.lowest, middle)
            self.up = self.up + 1 if middle >= self.rebound * lowest else 0
            lasting = self.up * self.refresh >= self.window
            if lasting and middle - lowest > self.climb:
                self.climb, self.climb_to = middle - lowest, middle
        self.limit = max(self.factor * middle, self.floor * self.highest)


@dataclass
class UnstableRule:
    """``unstable_training``, decided at epoch ends. Raised when:

    - spikes: this epoch's or the previous one's batch losses spiked in a cluster
      (:class:`SpikeCounter`), and the epoch's loss rose from the previous epoch's
      by more than ``significance`` times ``scale``.
    - rising: the epoch loss rose in each of the last ``rises`` epochs, to at least
      ``rise_factor`` times its lowest of the fit and by more than ``significance``
      times ``scale``, all finite.
    - rebound: in this epoch, the running median of batch losses climbed back to at
      least :attr:`SpikeCounter.rebound` times the lowest it had in the fit, stayed
      there for a whole window, and rose by more than ``rebound_significance``
      times ``scale``: the loss went back up within the epoch, which the epoch's mean can
      hide (Adam at 0.1 on a 5-class MLP: the median fell to 0.22 and climbed back
      to 0.50 for 32 batches within the first epoch, whose mean still fell; the
      epoch loss rose only from the third epoch on). Healthy runs' medians move
      too: a ten-layer ReLU network's climbed from 0.020 to 0.099, 11% of its scale
      of 0.69, for a window (Adam at 0.1: 16% in the first epoch, 20% in the
      second, of 0.83).

    ``scale`` is where the model's loss has been: its highest epoch loss or running
    median of batch losses, in this fit and the model's earlier ones. A healthy run's
    spikes (hard samples in tiny batches, heavy-tailed targets) come while the epoch
    loss falls; near a loss of zero, Adam's epoch losses double and halve by
    themselves, by amounts that are small against where the loss started.

    Cleared after ``calm_epochs`` calm epochs in a row: no cluster of spikes, and an
    epoch loss at most ``calm_slack`` times the previous one.
    """

    rises: int = 2
    rise_factor: float = 1.25
    significance: float = 0.1
    rebound_significance: float = 0.15
    scale: float = 0.0
    calm_epochs: int = 2
    calm_slack: float = 1.05
    active: bool = False
    spikes: SpikeCounter = field(default_factory=SpikeCounter)
    losses: deque = field(init=False)
    lowest: float | None = None
    rising: int = 0
    calm: int = 0
    cluster_before: dict[str, Any] | None = None
    """The previous epoch's cluster of spikes, if it had one."""

    def __post_init__(self) -> None:
        self.losses = deque(maxlen=self.rises + 1)

    def epoch_end(self, loss: float) -> tuple[str | None, dict[str, Any]]:
        """The epoch's training loss; returns ``(transition or None, evidence)``."""
        spikes = self.spikes
        clustered = spikes.clustered
        cluster = self._spike_evidence() if clustered else None
        recent_cluster, self.cluster_before = cluster or self.cluster_before, cluster
        self.scale = max(self.scale, spikes.highest)
        climb, climb_to = spikes.climb, spikes.climb_to
        spikes.next_epoch()
        if not _finite(loss):
            # A NaN is nan_loss's; a rise starts again after it.
            self.losses.clear()
            self.lowest, self.rising, self.calm = None, 0, 0
            return None, {}
        previous = self.losses[-1] if self.losses else None
        self.losses.append(loss)
        self.rising = self.rising + 1 if previous is not None and loss > previous else 0
        self.lowest = loss if self.lowest is None else min(self.lowest, loss)
        self.scale = max(self.scale, loss)
        if self.active:
            steady = not clustered and (previous is None or loss <= self.calm_slack * previous)
            self.calm = self.calm + 1 if steady else 0
            if self.calm < self.calm_epochs:
                return None, {}
            self.active, self.calm = False, 0
            return CLEARED, {"calm_epochs": self.calm_epochs, "epoch_loss": loss}
        least = self.significance * self.scale
        if recent_cluster and previous is not None and loss - previous > least:
            evidence = dict(recent_cluster, epoch_loss=loss, previous_epoch_loss=previous)
        elif (
            self.rising >= self.rises
            and loss >= self.rise_factor * self.lowest
            and loss - self.lowest > least
        ):
            evidence = {
                "cause": RISING,
                "epoch_losses": list(self.losses),
                "epochs_rising": self.rising,
                "lowest": self.lowest,
                "above_lowest": loss / self.lowest if self.lowest > 0 else None,
            }
        elif climb > self.rebound_significance * self.scale:
            evidence = {
                "cause": REBOUND,
                "lowest_median": climb_to - climb,
                "median": climb_to,
                "above_lowest": climb_to / (climb_to - climb) if climb_to > climb else None,
                "window": spikes.window,
                "epoch_loss": loss,
            }
        else:
            return None, {}
        evidence["loss_scale"] = self.scale
        self.active, self.calm = True, 0
        return RAISED, evidence

    def _spike_evidence(self) -> dict[str, Any]:
        spikes = self.spikes
        median = spikes.largest_median
        return {
            "cause": SPIKES,
            "spikes": spikes.epoch_spikes,
            "largest": spikes.largest,
            "median_then": median,
            "ratio": spikes.largest / median if median else None,
            "threshold": spikes.factor,
        }


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
