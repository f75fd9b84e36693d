"""Per-head values of one fit, folded from its events: the latest train and
validation values of every head, and whether the total loss adds up.

The Heads grid's cells are made from a board in :mod:`kmon.engine.view.head_cells`,
the sentences that explain it in :mod:`kmon.engine.view.head_text`.

What the sum check relies on (Keras 3.15 / TensorFlow 2.21, ``tests/engine/test_heads.py``):
each batch's own total loss is ``sum(weight * head loss)`` plus whatever else the
model adds (regularizers, ``add_loss``, an overridden ``compute_loss``), so kmon
compares them on the per-batch values it recovers. History's values need not add up
the same way: on TensorFlow the total is averaged over samples but each head's loss
over steps, so an epoch whose last batch is smaller tips the balance.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import chain

from kmon.engine.events import (
    Baselines,
    Batch,
    EpochEnd,
    EpochStart,
    Event,
    FitStart,
    ValEnd,
    ValueKinds,
)
from kmon.engine.head_map import TRAIN, HeadMap, key_places, place_key
from kmon.engine.view.fold_dispatch import handlers_by_type

#: The total and the weighted head sum agree when the epoch's summed gap is within
#: this fraction of its summed total (recovered values carry float32 noise).
SUM_RTOL = 1e-3
#: History's total and weighted head sum differ visibly beyond this fraction.
HISTORY_RTOL = 1e-4

@dataclass(slots=True)
class SumCheck:
    """One epoch's batches: their total loss against the weighted sum of head losses."""

    batches: int = 0
    gap_sum: float = 0.0
    total_sum: float = 0.0
    worst: float = 0.0
    """Largest difference of one batch, relative to its total."""

    def add(self, total: float, weighted: float) -> None:
        gap = total - weighted
        self.batches += 1
        self.gap_sum += gap
        self.total_sum += total
        self.worst = max(self.worst, abs(gap) / max(abs(total), 1e-12))

    @property
    def mean_gap(self) -> float:
        return self.gap_sum / self.batches if self.batches else 0.0

    @property
    def holds(self) -> bool:
        return abs(self.gap_sum) <= SUM_RTOL * max(abs(self.total_sum), 1e-12)


@dataclass(frozen=True, slots=True)
class HistoryGap:
    """One epoch's History values: the total against the weighted head losses."""

    epoch: int
    total: float
    weighted: float
    last_size: int
    largest: int

    @property
    def visible(self) -> bool:
        return abs(self.total - self.weighted) > HISTORY_RTOL * max(abs(self.total), 1e-12)


class HeadBoard:
    """The heads of one fit and their latest values.

    ``train`` holds Keras's running means while an epoch runs, then History's
    values; ``val`` the latest validation. ``train_reference`` and
    ``val_reference`` keep the values before those, for trend marks.
    """

    def __init__(self, event: FitStart) -> None:
        self.fit = event.fit
        self.extra_losses = list(event.extra_losses)
        self.heads: HeadMap = {}
        self.kinds: dict[str, str] = {}
        self.train: dict[str, float] = {}
        self.val: dict[str, float] = {}
        self.unplaced: list[str] = []
        """Training log keys the head map does not explain (custom trackers)."""
        self.validated = False
        self.epochs_done = 0
        self.epoch: int | None = None
        self.check = SumCheck()
        """The epoch in progress."""
        self.last_check: SumCheck | None = None
        """The last finished epoch, when any of its batches could be checked."""
        self.checked_epoch: int | None = None
        self.history_gap: HistoryGap | None = None
        self.version = 0
        self.keys: dict[tuple[str | None, str], str] = {}
        """(head, quantity) -> its training log key; head None for the total."""
        self.loss_terms: list[tuple[float, str]] = []
        """(weight, log key) of every head loss, when Keras logs each one; else []."""
        self.train_reference: dict[str, float] = {}
        """The previous epoch's training values."""
        self.val_reference: dict[str, float] = {}
        """The validation values before the latest."""
        self._places = key_places({})
        self._completed_train: dict[str, float] = {}
        self._sizes = (0, 0)
        self.baselines: dict[str | None, float] = {}
        """Constant-predictor baselines by head (None: the total), where known (the
        fit's ``baselines`` event)."""
        self.set_heads(event.heads)

    def set_heads(self, heads: HeadMap | None) -> None:
        self.heads = dict(heads or {})
        self._places = key_places(self.heads)
        self.keys = {
            (place.head, place.quantity): key
            for key, place in self._places.items()
            if place.split == TRAIN
        }
        self.loss_terms = self._head_loss_terms()
        # Keys already checked against the head map (batch logs repeat the same keys).
        self._seen_keys: set[str] = set()
        self.version += 1

    # -- folding ---------------------------------------------------------------------

    def apply(self, event: Event) -> None:
        """Fold one event of this fit (events of other fits are ignored)."""
        if getattr(event, "fit", None) != self.fit:
            return
        handler = _HANDLERS.get(event.type)
        if handler is not None:
            handler(self, event)
            self.version += 1

    def _on_value_kinds(self, event: ValueKinds) -> None:
        self.kinds = dict(event.kinds)
        self.extra_losses = list(event.extra_losses or self.extra_losses)
        if event.heads is not None:
            self.set_heads(event.heads)

    def _on_baselines(self, event: Baselines) -> None:
        self.baselines = {
            head: float(entry["value"])
            for head, entry in event.by_head.items()
            if isinstance(entry.get("value"), (int, float))
        }
        if event.total is not None:
            self.baselines[None] = float(event.total)

    def _on_epoch_start(self, event: EpochStart) -> None:
        self.epoch = event.epoch
        self.train_reference = dict(self._completed_train)
        self.check = SumCheck()
        self._sizes = (0, 0)

    def _on_batch(self, event: Batch) -> None:
        logs = self.train = event.logs
        if not self._seen_keys.issuperset(logs):
            self._seen_keys.update(logs)
            for key in logs:
                if key not in self._places and key not in self.unplaced:
                    self.unplaced.append(key)
        if event.size:
            self._sizes = (event.size, max(self._sizes[1], event.size))
        values = event.values
        terms = self.loss_terms
        if not values or event.span != 1 or not terms:
            return
        total = values.get("loss")
        parts = [values.get(key) for _, key in terms]
        if total is None or any(part is None for part in parts):
            return
        weighted = sum(weight * part for (weight, _), part in zip(terms, parts))
        if math.isfinite(total) and math.isfinite(weighted):
            self.check.add(total, weighted)

    def apply_batches(self, batches: list[Batch], logs: list[dict], sizes: list) -> None:
        """:meth:`apply` each of a run of batch events, to the same board, with
        each batch's work done only where it can change it: the keys, the sizes,
        the sum check (which only multi-head models need, batch by batch).
        The batches are of one fit; ``logs`` and ``sizes`` are theirs, as lists."""
        if batches[0].fit != self.fit:
            return  # another fit's: apply ignores them
        if self.loss_terms:
            for batch in batches:
                self.apply(batch)
            return
        if not self._seen_keys.issuperset(chain.from_iterable(logs)):
            seen = self._seen_keys
            for batch in batches:
                if not seen.issuperset(batch.logs):
                    self._on_batch(batch)  # new keys: the one-by-one way
        # (Two scans at C speed, where the comprehension was a replay's 25 µs a run.)
        found = sizes if None not in sizes and 0 not in sizes else [s for s in sizes if s]
        if found:
            self._sizes = (found[-1], max(self._sizes[1], max(found)))
        self.train = logs[-1]
        self.version += len(batches)

    def apply_block(self, block) -> None:
        """:meth:`apply` each batch of a live fit's block of columns
        (:class:`~kmon.engine.training.batch_block.BatchBlock`, whose batches all log
        the same keys), to the same board: its batch events only where the keys are
        new or the sum check needs each batch."""
        if block.fit != self.fit:
            return  # another fit's: apply ignores them
        if self.loss_terms or not self._seen_keys.issuperset(block.keys):
            self.apply_batches(block.events(), block.logs, block.sizes)
            return
        found = [size for size in block.sizes if size]
        if found:
            self._sizes = (found[-1], max(self._sizes[1], *found))
        self.train = block.logs[-1]
        self.version += len(block)

    def _on_val_end(self, event: ValEnd) -> None:
        self.val_reference = dict(self.val)
        self.val = dict(event.logs)
        self.validated = True

    def _on_epoch_end(self, event: EpochEnd) -> None:
        train = {
            key: value
            for key, value in event.logs.items()
            if place_key(key, self._places).split == TRAIN
        }
        self.train = self._completed_train = train
        self.epochs_done += 1
        if self.check.batches:
            self.last_check, self.checked_epoch = self.check, event.epoch
        terms = self.loss_terms
        total = train.get("loss")
        parts = [train.get(key) for _, key in terms]
        if terms and total is not None and all(part is not None for part in parts):
            weighted = sum(weight * part for (weight, _), part in zip(terms, parts))
            self.history_gap = HistoryGap(event.epoch, total, weighted, *self._sizes)

    def baseline(self, head: str | None) -> float | None:
        """``head``'s constant-predictor baseline (None: the total's), where known and
        comparable with its logged loss: the total's is not when the loss adds
        regularizers, ``add_loss()`` or a model's own ``compute_loss``/``train_step``
        (:attr:`extra_losses`), which the baseline leaves out."""
        if head is None and self.extra_losses:
            return None
        return self.baselines.get(head)

    def baseline_keys(self) -> dict[str, float]:
        """Training loss keys -> their constant-predictor baseline, where known and
        comparable (:meth:`baseline`): the total's ``loss``, and each head's own loss
        key when Keras logs one."""
        found = {}
        for head in self.baselines:
            key = self.keys.get((head, "loss"))
            value = self.baseline(head)
            if key is not None and value is not None:
                found[key] = value
        return found

    @property
    def multi_head(self) -> bool:
        return len(self.heads) > 1

    def quantities(self) -> list[str]:
        """What the heads log: ``"loss"``, then every metric in the order heads list
        them (the Heads grid's columns)."""
        found = ["loss"]
        for (head, quantity), _key in self.keys.items():
            if head is not None and quantity not in found:
                found.append(quantity)
        return found

    def _head_loss_terms(self) -> list[tuple[float, str]]:
        """(weight, log key) of every head loss, when Keras logs each one; else []."""
        terms = []
        for entry in self.heads.values():
            if not entry.get("loss"):
                continue
            if not entry.get("loss_key") or entry.get("weight") is None:
                return []
            terms.append((float(entry["weight"]), entry["loss_key"]))
        return terms if len(terms) > 1 else []


_HANDLERS = handlers_by_type(HeadBoard)
