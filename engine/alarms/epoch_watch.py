"""One fit's loss alarms, ``overfitting`` and ``unstable_training``, decided at epoch
ends from the epoch's losses and each batch's own loss, and raised and cleared
through the run's :class:`~.book.AlarmBook`. Plain Python, free of Keras:
:class:`~.probe_callback.ProbeCallback` calls it from its hooks.

Keras hands callbacks the running mean of the loss over the epoch so far, weighted
by samples (Keras's own ``train_step`` counts each batch's rows). The loss of the
steps that end at step ``n`` is ``(S_n * m_n - S_p * m_p) / (S_n - S_p)``, where
``p`` is the step reported before and ``S`` counts the samples seen: from the
arrays' size and batch size when ``fit()`` got arrays, else one per step (then a
shorter last batch reads closer to the epoch's mean than it was, never further).
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable
from typing import Any

from kmon.engine.alarms.book import AlarmBook
from kmon.engine.alarms.kinds import OVERFITTING, RAISED, UNSTABLE_TRAINING
from kmon.engine.alarms.loss_rules import OverfitRule, UnstableRule
from kmon.engine.alarms.messages import overfitting_message, unstable_message
from kmon.engine.head_map import HeadMap

#: Before any step of an epoch: no step, no sample seen.
_EPOCH_START = (-1, 0.0)

#: The highest loss each model had in its fits so far (epoch loss, or running median
#: of batch losses): the scale a rise is judged against. Weak, so a model's end frees it.
_scales: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


class EpochWatch:
    """Watches one fit's losses for overfitting and unstable training.

    :meth:`batch_end` runs after every batch (possibly off the training thread, as
    Keras dispatches batch-end hooks asynchronously on JAX and torch): O(1), no
    numpy, no lock, no event. It reads the previous step's running mean as one tuple, so a
    hook that overtakes another still computes a true mean, over more steps.

    Args:
        book: the run's alarms; an alarm an earlier fit of the model raised may be
            cleared by this one.
        fit: 0-based number of the fit in the run.
        samples: training samples per epoch, for arrays.
        batch_size: the fit's batch size, for arrays.
        per_batch: the logged loss is Keras's running mean over samples (a model
            whose own ``train_step`` may log anything is not judged per batch);
            :meth:`begin` sets it.
    """

    def __init__(
        self,
        book: AlarmBook,
        fit: int,
        *,
        samples: int | None = None,
        batch_size: int | None = None,
        per_batch: bool = True,
    ) -> None:
        self._book = book
        self._fit = fit
        self._sized = bool(samples and batch_size)
        self._samples = samples or 0
        self._batch_size = batch_size or 0
        self.per_batch = per_batch
        self._previous = _EPOCH_START
        self._overfit: dict[str | None, OverfitRule] = {}
        self._unstable = UnstableRule()
        self._unstable.active = book.is_active(UNSTABLE_TRAINING)
        self._model: Any = None

    def begin(self, model: Any, *, per_batch: bool) -> None:
        """The fit begins on ``model``: carry on the scale of its earlier fits.

        Args:
            model: the model (a key only: its earlier fits' loss scale).
            per_batch: see the class's arguments.
        """
        self.per_batch = per_batch
        try:
            self._unstable.scale = _scales.get(model, 0.0)
            self._model = model
        except TypeError:  # not weakly referenceable: this fit's scale only
            self._model = None

    def epoch_begin(self) -> None:
        """The running means start again from zero."""
        self._previous = _EPOCH_START

    def batch_end(self, step: int, mean: float) -> None:
        """The running mean of the loss after ``step`` (a finite float)."""
        self.batch_ends(((step, mean),))

    def batch_ends(self, ends: Iterable[tuple[int, float]]) -> None:
        """``(step, running mean of the loss after it)`` of batches in step order
        (finite floats), in one pass: the training thread settles hundreds at once."""
        if not self.per_batch:
            return
        last, last_mean = self._previous
        # Samples seen after a step: every batch is whole but the data's last.
        samples = self._samples if self._sized else None
        size = self._batch_size if self._sized else 1
        before = (last + 1) * size if samples is None else min(samples, (last + 1) * size)
        own: list[float] = []
        add = own.append
        for step, mean in ends:
            if step <= last:
                continue  # overtaken by a later step's hook: already counted there
            seen = (step + 1) * size
            if samples is not None and seen > samples:
                seen = samples
            if seen > before:
                add((seen * mean - before * last_mean) / (seen - before))
            last, last_mean, before = step, mean, seen
        self._previous = (last, last_mean)
        self._unstable.spikes.add_all(own)

    def epoch_end(self, epoch: int, logs: dict[str, Any], head_map: HeadMap | None) -> None:
        """The epoch's logs (``loss``, ``val_loss`` and the heads' losses)."""
        loss = logs.get("loss")
        if isinstance(loss, (int, float)):
            transition, evidence = self._unstable.epoch_end(float(loss))
            if self._model is not None:
                _scales[self._model] = self._unstable.scale
            if transition is not None:
                self._send(UNSTABLE_TRAINING, None, transition, evidence, epoch)
        for subject, val_key, train_key in watched_losses(logs, head_map):
            rule = self._overfit.get(subject)
            if rule is None:
                rule = self._overfit[subject] = self._new_overfit_rule(subject)
            transition, evidence = rule.update(epoch, logs[val_key], logs[train_key])
            if transition is None:
                continue
            evidence = {"head": subject, "metric": val_key, **evidence}
            self._send(OVERFITTING, subject, transition, evidence, epoch)

    def _new_overfit_rule(self, subject: str | None) -> OverfitRule:
        rule = OverfitRule()
        raised = self._book.active.get((OVERFITTING, subject))
        if raised is not None:
            # Raised by an earlier fit of this model: this fit clears it only when
            # the loss comes back near the best it was raised against.
            rule.inherit(raised.evidence)
        return rule

    def _send(self, kind, subject, transition, evidence, epoch) -> None:
        if kind == OVERFITTING:
            message = overfitting_message(transition, evidence)
        else:
            message = unstable_message(transition, evidence)
        where = {"subject": subject, "fit": self._fit, "epoch": epoch}
        if transition == RAISED:
            self._book.raise_(kind, message, evidence, **where)
        else:
            self._book.clear(kind, message, evidence, **where)


def watched_losses(
    logs: dict[str, Any], head_map: HeadMap | None
) -> list[tuple[str | None, str, str]]:
    """``(head or None, validation key, training key)`` for each loss the overfitting
    rule watches in these epoch logs: each head's own loss when the model has two or
    more heads that log one, else ``val_loss`` against ``loss``; none without
    validation."""
    heads = []
    for name, entry in (head_map or {}).items():
        key = entry.get("loss_key") if isinstance(entry, dict) else None
        if isinstance(key, str) and key in logs and f"val_{key}" in logs:
            heads.append((name, f"val_{key}", key))
    if len(heads) >= 2:
        return heads
    if "val_loss" in logs and "loss" in logs:
        return [(None, "val_loss", "loss")]
    return []
