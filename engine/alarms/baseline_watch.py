"""What the probe callback knows through the constant-predictor baselines: it
computes them at fit start (the ``baselines`` event), judges each head's spread
together with its loss against them (collapse or not learning yet), and the epoch's
training loss against their total (``no_learning``).

:class:`~.probe_callback.ProbeCallback` hands everything here with a line per hook;
the decisions are in :mod:`.collapse` and :mod:`.learning`, the numbers in
:mod:`.baselines` and :mod:`.loss_values`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from kmon.engine.alarms.arrays_seen import ArraysSeen
from kmon.engine.alarms.baselines import Baseline, head_baseline, total_baseline
from kmon.engine.alarms.book import AlarmBook
from kmon.engine.alarms.collapse import CollapseRule, LossEvidence
from kmon.engine.alarms.kinds import (
    INFO,
    NO_LEARNING,
    NOT_LEARNING_YET,
    PREDICTION_VARIANCE,
    RAISED,
)
from kmon.engine.alarms.learning import LearningRule
from kmon.engine.alarms.loss_values import (
    class_weights_to_sample_weights,
    ignored,
    mean_prediction,
    per_sample,
    reduce,
)
from kmon.engine.alarms.messages import (
    collapse_message,
    no_learning_message,
    not_learning_yet_message,
)
from kmon.engine.alarms.probe_batch import ProbeBatch, to_numpy
from kmon.engine.alarms.probe_config import ProbeConfig
from kmon.engine.alarms.probe_heads import by_head
from kmon.engine.alarms.rules import VarianceRule
from kmon.engine.alarms.spread import Spread
from kmon.engine.events import Baselines, Event
from kmon.engine.head_map import HeadMap
from kmon.engine.training.heads import extra_loss_sources, head_loss_identities
from kmon.engine.training.learning_rate import read_learning_rate
from kmon.engine.training.metric_kinds import added_loss_layers


class Unread:
    """A learning rate nobody read yet (None is one that could not be read)."""


UNREAD = Unread()


class BaselineWatch:
    """One fit's baselines and the alarms that rest on them.

    Args:
        emit: receives the ``baselines`` event.
        book: the run's alarms.
        fit: 0-based number of the fit.
        config: the probe settings (the spread thresholds).
        class_weight: ``fit(class_weight=...)``, which Keras turns into sample weights.
    """

    def __init__(
        self,
        emit: Callable[[Event], None],
        book: AlarmBook,
        fit: int,
        config: ProbeConfig,
        class_weight: dict | None = None,
    ) -> None:
        self._emit = emit
        self._book = book
        self._fit = fit
        self._config = config
        self._class_weight = class_weight
        self._identities: dict[str, list[dict]] = {}
        self._names: list[str] = []
        """The head map's heads, in its order (how list targets and weights split)."""
        self._probe_baselines: dict[str, Baseline] = {}
        self._seen: ArraysSeen | None = None
        self._collapse: dict[str, CollapseRule] = {}
        self.learning = LearningRule(active=book.is_active(NO_LEARNING))
        self.total: float | None = None
        self._vanishing: dict[str, Any] | None = None

    # -- fit start -------------------------------------------------------------------------

    def start(
        self,
        model: Any,
        head_map: HeadMap | None,
        sample: ProbeBatch,
        seen: ArraysSeen | None = None,
    ) -> None:
        """Compute every head's baseline on ``sample``'s targets (every training row
        where fit() trains on arrays, else the data-check rows) and emit them. With
        ``seen``, a baseline an earlier fit computed on the same arrays, unchanged,
        for the same loss, is read again (0.8 ms of a fit's start on 3,200 labels)."""
        self._seen = seen
        if not head_map or sample.y is None:
            return
        self._identities = head_loss_identities(model)
        names = self._names = list(head_map)
        targets = by_head(names, sample.y)
        weights = self._weights(names, sample.y, sample.sample_weight)
        weighted = (
            "class_weight"
            if self._class_weight
            else "sample_weight"
            if sample.sample_weight is not None
            else None
        )
        by_name: dict[str, dict[str, Any]] = {}
        parts: list[tuple[float | None, Baseline | None]] = []
        for name, target, weight in zip(names, targets, weights):
            identities = self._identities.get(name, [])
            if not identities:
                parts.append((None, None))  # no loss: adds nothing to the total
                continue
            baseline = _baseline(identities, to_numpy(target), weight, seen)
            parts.append((head_map[name].get("weight"), baseline))
            by_name[name] = {
                "loss": identities[0].get("function") if len(identities) == 1 else None,
                "value": baseline.value,
                "method": baseline.method,
                "rows": baseline.rows,
                "weighted": weighted if weight is not None else None,
            }
        if not by_name:
            return
        self.total = total_baseline(parts)
        # The logged loss adds regularizers and add_loss() to the heads: then it is not
        # comparable with the heads' baseline.
        comparable = not extra_loss_sources(model) and not added_loss_layers(model)
        # A level is compared as a fraction of the baseline: a zero or negative one
        # (constant targets, cosine similarity, Poisson) has no such scale.
        positive = self.total is not None and self.total > 1e-8
        self.learning.baseline = self.total if comparable and positive else None
        self._emit(
            Baselines(fit=self._fit, by_head=by_name, total=self.total, source=sample.source)
        )

    def _weights(self, names: list[str], y: Any, sample_weight: Any) -> list[Any]:
        """Each head's per-sample weights, as Keras applies them (None: none)."""
        if self._class_weight and len(names) == 1:
            return [class_weights_to_sample_weights(to_numpy(y), self._class_weight)]
        if sample_weight is None:
            return [None] * len(names)
        if isinstance(sample_weight, (dict, list, tuple)):
            return [None if w is None else to_numpy(w) for w in by_head(names, sample_weight)]
        return [to_numpy(sample_weight)] * len(names)  # one array weighs every head

    # -- collapse or not learning yet, at each prediction probe ----------------------------

    def judge(
        self, name: str, measured: Spread, pred: Any, target: Any, probe: ProbeBatch, where: dict
    ) -> None:
        """One head's spread and loss at a prediction probe; raises or clears."""
        rule = self._collapse.get(name)
        if rule is None:
            config = self._config
            rule = CollapseRule(
                VarianceRule(config.variance_threshold, config.variance_clear),
                raise_after=config.variance_checks,
            )
            # Raised by an earlier fit of the run: this fit may clear them.
            rule.collapsed = self._book.is_active(PREDICTION_VARIANCE, name)
            rule.slow = self._book.is_active(NOT_LEARNING_YET, name)
            self._collapse[name] = rule
        loss = self._probe_loss(name, pred, target, probe)
        verdict = rule.update(measured.ratio, loss)
        if not verdict.transitions:
            return
        evidence: dict[str, Any] = {
            "head": name,
            "ratio": measured.ratio,
            "measure": measured.measure,
            "prediction_std": measured.pred_std,
            "target_std": measured.target_std,
            "threshold": self._config.variance_threshold,
            "checks": verdict.checks,
            "probe_samples": probe.rows,
        }
        if loss is not None and math.isfinite(loss.better):
            evidence["probe_loss"] = loss.loss
            evidence["baseline"] = loss.baseline
            evidence["better_pct"] = 100 * loss.better
            evidence["trend_pct"] = 100 * verdict.trend if verdict.trend is not None else None
            evidence["input_gain_pct"] = 100 * loss.input_gain
        if self._vanishing is not None:
            evidence.update(self._vanishing)
        upgraded = (PREDICTION_VARIANCE, RAISED) in verdict.transitions
        for kind, transition in verdict.transitions:
            if kind == NOT_LEARNING_YET:
                shown = {**evidence, "upgraded": upgraded} if transition != RAISED else evidence
                message = not_learning_yet_message(transition, shown)
            else:
                message = collapse_message(transition, evidence)
                if transition == RAISED and "baseline" not in evidence:
                    evidence["baseline"] = None  # unknown: the spread decided alone
            if transition == RAISED:
                severity = INFO if kind == NOT_LEARNING_YET else "warning"
                self._book.raise_(kind, message, evidence, severity=severity, subject=name, **where)
            else:
                self._book.clear(kind, message, evidence, subject=name, **where)

    def _probe_loss(
        self, name: str, pred: Any, target: Any, probe: ProbeBatch
    ) -> LossEvidence | None:
        """The head's loss on the probe batch and the best constant's on its rows."""
        identities = self._identities.get(name)
        if not identities or len(identities) != 1 or target is None:
            return None
        identity = identities[0]
        if name not in self._names:
            return None
        weights = self._weights(self._names, probe.y, probe.sample_weight)
        weight = weights[self._names.index(name)]
        baseline = self._probe_baselines.get(name)
        if baseline is None:
            baseline = _baseline(identities, to_numpy(target), weight, self._seen)
            self._probe_baselines[name] = baseline
        if baseline.value is None:
            return None
        target = np.asarray(to_numpy(target))
        values = per_sample(identity, target, pred)
        if values is None:
            return None
        pred = np.asarray(pred, dtype=np.float64)
        constant = np.broadcast_to(mean_prediction(identity, pred), pred.shape)
        own = per_sample(identity, target, constant)
        try:
            mask = ignored(identity, target)
            loss = reduce(values, weight, mask)
            own_loss = reduce(own, weight, mask) if own is not None else math.nan
        except ValueError:
            return None
        return LossEvidence(loss, baseline.value, own_loss)

    def gradients(self, evidence: dict[str, Any], vanishing: bool) -> None:
        """The latest gradient check: quoted in a collapse while gradients vanish."""
        if not vanishing:
            self._vanishing = None
            return
        self._vanishing = {
            "gradient_layer": evidence.get("first_layer"),
            "gradient_ratio": evidence.get("first_to_last"),
        }

    # -- no learning, at epoch ends -----------------------------------------------------------

    def epoch_end(
        self,
        model: Any,
        logs: dict | None,
        where: dict,
        *,
        learning_rate: float | None | Unread = UNREAD,
    ) -> None:
        """Judge the epoch's training loss; raises or clears ``no_learning``.
        ``learning_rate`` is the optimizer's, read by the caller at this epoch's end
        (else it is read here)."""
        if self.learning.baseline is not None and added_loss_layers(model):
            # add_loss() is seen only once its layers ran (a functional model's data
            # checks come before): the logged loss adds what the baseline leaves out.
            self.learning.baseline = None
        loss = (logs or {}).get("loss")
        if isinstance(learning_rate, Unread):
            learning_rate = read_learning_rate(model)
        if learning_rate is not None and not math.isfinite(learning_rate):
            learning_rate = None  # an infinite rate tells no_learning nothing
        transition, evidence = self.learning.epoch_end(
            float(loss) if isinstance(loss, (int, float)) else None,
            trainable=_trainable_count(model),
            learning_rate=learning_rate,
        )
        if transition is None:
            return
        message = no_learning_message(transition, evidence)
        if transition == RAISED:
            self._book.raise_(NO_LEARNING, message, evidence, **where)
        else:
            self._book.clear(NO_LEARNING, message, evidence, **where)


def _trainable_count(model: Any) -> int | None:
    try:
        return len(model.trainable_weights)
    except Exception:  # noqa: BLE001 - a probe must never break training
        return None


def _baseline(
    identities: list[dict[str, Any]], target: Any, weight: Any, seen: ArraysSeen | None
) -> Baseline:
    """:func:`head_baseline`, or what it gave an earlier fit on the same arrays."""
    if seen is None:
        return head_baseline(identities, target, weight)
    return seen.recall(
        (target, weight),
        ("baseline", repr(identities)),
        lambda: head_baseline(identities, target, weight),
    )
