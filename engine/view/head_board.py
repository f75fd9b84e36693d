"""Per-head values of one fit, folded from its events: what the TUI's Heads tab draws
and headless mode prints, and the two sentences that answer "why 4 losses but 2
accuracies?" and "is the total the weighted sum of the head losses?".

What the check relies on (Keras 3.15 / TensorFlow 2.21, ``tests/engine/test_heads.py``):
each batch's own total loss is ``sum(weight * head loss)`` plus whatever else the
model adds (regularizers, ``add_loss``, an overridden ``compute_loss``), so kmon
compares them on the per-batch values it recovers. History's values need not add up
the same way: on TensorFlow the total is averaged over samples but each head's loss
over steps, so an epoch whose last batch is smaller tips the balance.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from kmon.engine.events import (
    Batch,
    EpochEnd,
    EpochStart,
    Event,
    FitStart,
    ValEnd,
    ValueKinds,
    handlers_by_type,
)
from kmon.engine.format import format_value
from kmon.engine.head_map import TRAIN, VAL, HeadMap, head_kind, key_places, place_key

#: The total and the weighted head sum agree when the epoch's summed gap is within
#: this fraction of its summed total (recovered values carry float32 noise).
SUM_RTOL = 1e-3
#: History's total and weighted head sum differ visibly beyond this fraction.
HISTORY_RTOL = 1e-4
#: A value moved (trend mark) when it changed by more than this fraction.
TREND_RTOL = 1e-3

NOT_CONFIGURED = "not configured"
"""The head has no such metric (or no loss): compile() did not ask for it."""
NO_LOSS = "no loss"
PER_HEAD_ONLY = "per head only"
"""Keras computes metrics per head; there is no total accuracy."""
TOTAL_ONLY = "in total only"
"""Keras logs only the total when there is a single loss."""
PENDING = "pending"
NO_VALIDATION = "no validation"

@dataclass(frozen=True, slots=True)
class Cell:
    """One grid cell: a value with its trend mark, or a note saying why there is none."""

    value: float | None = None
    trend: str = ""
    note: str = ""


@dataclass(frozen=True, slots=True)
class Row:
    head: str | None
    """None for the total."""
    label: str
    weight: str
    cells: dict[tuple[str, str], Cell]
    """(quantity, ``"train"`` or ``"val"``) -> cell."""


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

    Train cells show Keras's running means while an epoch runs, then History's
    value; validation cells the latest validation. Trend marks compare with the
    previous epoch's value (↓ lower, ↑ higher, → within 0.1%).
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
        self._keys: dict[tuple[str | None, str], str] = {}
        self._places = key_places({})
        self._train_reference: dict[str, float] = {}
        self._completed_train: dict[str, float] = {}
        self._val_reference: dict[str, float] = {}
        self._sizes = (0, 0)
        self.set_heads(event.heads)

    def set_heads(self, heads: HeadMap | None) -> None:
        self.heads = dict(heads or {})
        self._places = key_places(self.heads)
        self._keys = {
            (place.head, place.quantity): key
            for key, place in self._places.items()
            if place.split == TRAIN
        }
        self._terms = self._loss_terms()
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

    def _on_epoch_start(self, event: EpochStart) -> None:
        self.epoch = event.epoch
        self._train_reference = dict(self._completed_train)
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
        terms = self._terms
        if not values or event.span != 1 or not terms:
            return
        total = values.get("loss")
        parts = [values.get(key) for _, key in terms]
        if total is None or any(part is None for part in parts):
            return
        weighted = sum(weight * part for (weight, _), part in zip(terms, parts))
        if math.isfinite(total) and math.isfinite(weighted):
            self.check.add(total, weighted)

    def _on_val_end(self, event: ValEnd) -> None:
        self._val_reference = dict(self.val)
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
        terms = self._terms
        total = train.get("loss")
        parts = [train.get(key) for _, key in terms]
        if terms and total is not None and all(part is not None for part in parts):
            weighted = sum(weight * part for (weight, _), part in zip(terms, parts))
            self.history_gap = HistoryGap(event.epoch, total, weighted, *self._sizes)

    # -- what to show ----------------------------------------------------------------

    @property
    def multi_head(self) -> bool:
        return len(self.heads) > 1

    def quantities(self) -> list[str]:
        """Grid columns: ``"loss"``, then every metric in the order heads list them."""
        found = ["loss"]
        for (head, quantity), _key in self._keys.items():
            if head is not None and quantity not in found:
                found.append(quantity)
        return found

    def rows(self) -> list[Row]:
        """The total, then each head."""
        splits = (TRAIN, VAL)
        quantities = self.quantities()
        rows = [
            Row(
                None,
                "total",
                "Σ",
                {(q, s): self.cell(None, q, s) for q in quantities for s in splits},
            )
        ]
        for head, entry in self.heads.items():
            weight = entry.get("weight")
            rows.append(
                Row(
                    head,
                    head,
                    f"×{_weight(weight)}" if weight is not None and entry.get("loss") else "—",
                    {(q, s): self.cell(head, q, s) for q in quantities for s in splits},
                )
            )
        return rows

    def cell(self, head: str | None, quantity: str, split: str) -> Cell:
        key = self._keys.get((head, quantity))
        if key is None:
            return Cell(note=self._missing(head, quantity))
        if split == VAL and not self.validated:
            return Cell(note=NO_VALIDATION if self.epochs_done else PENDING)
        values, reference = (
            (self.train, self._train_reference)
            if split == TRAIN
            else (self.val, self._val_reference)
        )
        value = values.get(key)
        if value is None:
            return Cell(note=PENDING)
        return Cell(float(value), _trend(float(value), reference.get(key)))

    def _missing(self, head: str | None, quantity: str) -> str:
        if head is None:
            return PER_HEAD_ONLY
        if quantity != "loss":
            return NOT_CONFIGURED
        if not self.heads.get(head, {}).get("loss"):
            return NO_LOSS
        return TOTAL_ONLY

    def _loss_terms(self) -> list[tuple[float, str]]:
        """(weight, log key) of every head loss, when Keras logs each one; else []."""
        terms = []
        for entry in self.heads.values():
            if not entry.get("loss"):
                continue
            if not entry.get("loss_key") or entry.get("weight") is None:
                return []
            terms.append((float(entry["weight"]), entry["loss_key"]))
        return terms if len(terms) > 1 else []

    # -- sentences -------------------------------------------------------------------

    def formula(self) -> str:
        """``1.0·a + 0.5·b + 2.0·c``: what the total is made of."""
        return " + ".join(
            f"{_weight(entry['weight'])}·{head}"
            for head, entry in self.heads.items()
            if entry.get("loss") and entry.get("weight") is not None
        )

    def summary(self) -> str:
        """How many losses and metrics this model logs, and why."""
        heads = self.heads
        if not heads:
            return "Heads: not known yet (Keras builds the compiled loss at the first step)."
        parts = [self._loss_count()]
        quantities = self.quantities()[1:]
        if not quantities:
            parts.append("no metrics compiled")
        elif len(heads) == 1:
            parts.append("metrics: " + ", ".join(quantities))
        for quantity in quantities if len(heads) > 1 else []:
            having = [h for h in heads if (h, quantity) in self._keys]
            lacking = [h for h in heads if h not in having]
            if not lacking:
                parts.append(f"{quantity} on all {len(heads)} heads")
            else:
                text = f"{quantity} on {_count(len(having), 'head')}: {', '.join(having)}"
                parts.append(text + "; none on " + ", ".join(self._kind(h) for h in lacking))
        if len(heads) > 1 and len(quantities) > 1:
            bare = [h for h in heads if not self.heads[h].get("metrics")]
            parts.append(
                "every head has a metric" if not bare else f"no metric at all on {', '.join(bare)}"
            )
        return "; ".join(parts)

    def _loss_count(self) -> str:
        heads = self.heads
        losing = [h for h, entry in heads.items() if entry.get("loss")]
        keyed = [h for h in losing if heads[h].get("loss_key")]
        formula = self.formula()
        if len(heads) == 1:
            (head,) = heads
            loss = heads[head].get("loss") or "no loss"
            text = (
                f"1 loss: the total ({loss} on the only output, {head}; Keras logs "
                "per-head losses only for several)"
            )
        elif len(keyed) > 1:
            text = f"{len(keyed) + 1} losses = total + {_count(len(keyed), 'head')} (total = {formula})"
        else:
            text = (
                f"1 loss: the total = {formula or '?'} (a single loss: Keras logs per-head "
                "losses only when there are several)"
            )
        without = [h for h in heads if h not in losing]
        if without:
            text += f"; no loss on {', '.join(without)} (not trained)"
        return text

    def _kind(self, head: str) -> str:
        entry = self.heads[head]
        kind = head_kind(entry)
        label = "classifier" if kind.classification else "regression" if kind.regression else ""
        return f"{head} ({label}: {str(entry.get('loss') or '').lower()})" if label else head

    def check_text(self) -> str:
        """Whether the total equals the weighted sum of the head losses, and why not."""
        terms = self._terms
        if not terms:
            if len(self.heads) == 1:
                return "One output: the total is its loss; there is nothing to add up."
            return "Keras logs only the total here: there are no head losses to add up."
        formula = self.formula()
        check = self.last_check or (self.check if self.check.batches else None)
        epoch = self.checked_epoch if self.last_check else self.epoch
        if check is None:
            if self.epochs_done:
                text = "Not checked per batch: per-batch values are not recoverable for this input."
            else:
                text = f"total = {formula}: checked on every batch as training runs."
            return text + self._history_sentence(formula, None)
        where = f"{_count(check.batches, 'batch')} of epoch {(epoch or 0) + 1}"
        if check.holds:
            text = (
                f"Per batch, total = {formula} holds ({where}; largest difference "
                f"{check.worst:.1e} of the total)."
            )
        else:
            gap = check.mean_gap
            side = "above" if gap > 0 else "below"
            text = (
                f"Per batch, the total is {format_value(abs(gap))} {side} {formula} on "
                f"average ({where}): {self._why_gap()}."
            )
        return text + self._history_sentence(formula, check)

    def _why_gap(self) -> str:
        if self.extra_losses:
            shown = ", ".join(self.extra_losses[:3])
            more = f" and {len(self.extra_losses) - 3} more" if len(self.extra_losses) > 3 else ""
            return f"the total also holds what no head reports: {shown}{more}"
        return (
            "something adds to the total that no head reports, e.g. a layer's add_loss() "
            "or a custom train_step()"
        )

    def _history_sentence(self, formula: str, check: SumCheck | None) -> str:
        gap = self.history_gap
        if gap is None or not gap.visible:
            return ""
        text = (
            f" History (epoch {gap.epoch + 1}): loss {format_value(gap.total)}, but its "
            f"head losses weigh up to {format_value(gap.weighted)}"
        )
        step_mean = any(kind == "step_mean" for kind in self.kinds.values())
        if step_mean and gap.last_size and gap.last_size < gap.largest:
            text += (
                ": Keras averages the total over samples but each head's loss over steps "
                f"(TensorFlow), and the last batch had {gap.last_size} samples, not "
                f"{gap.largest}"
            )
        elif check is not None and not check.holds:
            text += ": the same extra term"
        return text + "."


def table_lines(board: HeadBoard) -> list[str]:
    """The grid as compact plain text (headless mode): one line per row."""
    quantities = board.quantities()
    splits = (TRAIN, VAL) if board.validated else (TRAIN,)
    header = ["head", "w"] + [(q if s == TRAIN else f"val_{q}") for q in quantities for s in splits]
    table = [header]
    for row in board.rows():
        line = [row.label, row.weight]
        for quantity in quantities:
            for split in splits:
                line.append(_plain(row.cells[(quantity, split)]))
        table.append(line)
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    return ["  ".join(text.ljust(w) for text, w in zip(line, widths)).rstrip() for line in table]


_PLAIN_NOTES = {NOT_CONFIGURED: "—", NO_LOSS: "—", PER_HEAD_ONLY: "·", TOTAL_ONLY: "=total"}


def _plain(cell: Cell) -> str:
    if cell.value is None:
        return _PLAIN_NOTES.get(cell.note, cell.note)
    return format_value(cell.value) + cell.trend


def _trend(value: float, reference: float | None) -> str:
    if reference is None or not (math.isfinite(value) and math.isfinite(reference)):
        return ""
    if abs(value - reference) <= TREND_RTOL * max(abs(reference), 1e-12):
        return "→"
    return "↓" if value < reference else "↑"


def _weight(weight: float) -> str:
    weight = float(weight)
    return f"{weight:.1f}" if weight.is_integer() else f"{weight:g}"


def _count(count: int, noun: str) -> str:
    if count == 1:
        return f"1 {noun}"
    return f"{count} {noun}{'es' if noun.endswith(('s', 'ch', 'sh', 'x')) else 's'}"


_HANDLERS = handlers_by_type(HeadBoard)
