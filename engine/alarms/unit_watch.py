"""Dead ReLU units and collapsed classes, judged at every prediction probe of a fit:
what :class:`~kmon.engine.alarms.probe_callback.ProbeCallback` hands its prediction
probe to, so that one forward pass gives both the predictions and the ReLU layers'
activity."""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

import numpy as np

from kmon.engine.alarms.book import AlarmBook
from kmon.engine.alarms.class_shares import class_shares
from kmon.engine.alarms.kinds import CLASS_COLLAPSE, DEAD_UNITS, RAISED
from kmon.engine.alarms.predictions import predict
from kmon.engine.alarms.probe_batch import ProbeBatch
from kmon.engine.alarms.probe_heads import Head, align
from kmon.engine.alarms.unit_messages import class_collapse_message, dead_units_message
from kmon.engine.alarms.unit_rules import ClassCollapseRule, DeadUnitsRule
from kmon.engine.alarms.units import UnitView, forward, unit_view

#: Probe samples at least for a unit silent on all of them to count as dead: a
#: healthy ReLU unit is off for about half the samples, so on 32 of them chance
#: alone would leave it off for all about once in 4 billion times.
MIN_UNIT_SAMPLES = 32

#: Models whose dead units kmon said it cannot check (said once per model).
_noted: weakref.WeakSet = weakref.WeakSet()


class UnitWatch:
    """The ``dead_units`` and ``class_collapse`` alarms of one fit.

    :meth:`predict` runs the prediction probe's one forward pass, through the
    model's unit view (:mod:`.units`) where it has one; :meth:`judge` then decides
    on each ReLU-family layer's dead units and each classifier head's predicted
    classes, and raises or clears alarms through the run's book.

    Args:
        book: the run's alarms (a later fit of the same model may clear them).
        note: says something about the checks (a notice in the Alarms tab's Notes).
    """

    def __init__(self, book: AlarmBook, note: Callable[[str], None]) -> None:
        self._book = book
        self._note = note
        self._view: UnitView | None = None
        self._off = False
        self._maxima: list[np.ndarray] = []
        self._dead: dict[str, DeadUnitsRule] = {}
        self._classes: dict[str, ClassCollapseRule] = {}

    def predict(self, model: Any, probe: ProbeBatch) -> Any:
        """The model's predictions on the probe batch, as ``predict_on_batch`` gives
        them; the ReLU layers' activity is kept for :meth:`judge`."""
        self._maxima = []
        view = self._unit_view(model, probe)
        if view is None or view.model is None:
            return predict(model, probe)
        try:
            predictions, self._maxima = forward(model, probe, view)
        except Exception as exc:  # noqa: BLE001 - the prediction probe must go on
            self._off = True
            self._note(f"dead-unit check turned off after an error: {type(exc).__name__}: {exc}")
            return predict(model, probe)
        return predictions

    def judge(self, heads: list[Head], y_pred: Any, probe: ProbeBatch, where: dict) -> None:
        """Decide on the activity :meth:`predict` read and on each classifier head's
        predicted classes; ``where`` is the alarm's fit, epoch and step."""
        if self._view is not None and self._maxima:
            for layer, maxima in zip(self._view.layers, self._maxima):
                self._judge_layer(layer.name, layer.activation, maxima, probe.rows, where)
        for head, pred, target in align(heads, y_pred, probe.y):
            if pred is None or not head.classification:
                continue
            shares = class_shares(head, pred, target)
            if shares is not None:
                self._judge_head(head.name, shares, where)

    def _unit_view(self, model: Any, probe: ProbeBatch) -> UnitView | None:
        if self._off:
            return None
        if self._view is None:
            try:
                self._view = unit_view(model)
            except Exception as exc:  # noqa: BLE001 - an unusual graph must not stop probes
                self._off = True
                self._note(f"dead-unit check off: {type(exc).__name__}: {exc}")
                return None
            if self._view.skipped and model not in _noted:
                _noted.add(model)
                self._note(f"dead-unit check skipped: {self._view.skipped}")
            if self._view.model is not None and probe.rows < MIN_UNIT_SAMPLES:
                self._note(
                    f"dead-unit check skipped: {probe.rows} probe samples are too few to "
                    f"call a unit dead (at least {MIN_UNIT_SAMPLES})"
                )
                self._off = True
                return None
        return self._view

    def _judge_layer(
        self, name: str, activation: str, maxima: np.ndarray, rows: int, where: dict
    ) -> None:
        rule = self._dead.get(name)
        if rule is None:
            rule = self._dead[name] = DeadUnitsRule()
            rule.counter.active = self._book.is_active(DEAD_UNITS, name)
        dead, units = int(np.count_nonzero(maxima == 0)), int(maxima.size)
        transition = rule.update(dead, units)
        if transition is None:
            return
        evidence = {
            "layer": name,
            "activation": activation,
            "dead": dead,
            "units": units,
            "fraction": dead / units,
            "threshold": rule.threshold,
            "checks": rule.raise_after if transition == RAISED else rule.clear_after,
            "probe_samples": rows,
        }
        message = dead_units_message(transition, evidence)
        self._send(DEAD_UNITS, transition, message, evidence, name, where)

    def _judge_head(self, name: str, shares: Any, where: dict) -> None:
        rule = self._classes.get(name)
        if rule is None:
            rule = self._classes[name] = ClassCollapseRule()
            rule.counter.active = self._book.is_active(CLASS_COLLAPSE, name)
        transition = rule.update(shares)
        if transition is None:
            return
        evidence = rule.evidence(name, shares, transition)
        message = class_collapse_message(transition, evidence)
        self._send(CLASS_COLLAPSE, transition, message, evidence, name, where)

    def _send(self, kind, transition, message, evidence, subject, where) -> None:
        if transition == RAISED:
            self._book.raise_(kind, message, evidence, subject=subject, **where)
        else:
            self._book.clear(kind, message, evidence, subject=subject, **where)
