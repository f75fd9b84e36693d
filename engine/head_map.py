"""The head map, kmon's one model of a head, and where each log key belongs in it.

A head map is plain JSON, read from the compiled model by
:mod:`kmon.engine.training.heads` and sent in ``fit_start``:
``{name: {"loss": str | None, "weight": float | None, "metrics": [log names],
"loss_key": str | None, "task": "classification" | "regression" | None,
"binary": bool, "from_logits": bool}}`` where ``name`` is the name Keras uses in the
logs (the output's dict key, or its layer name), and the last three say what the
head's loss trains it for (:mod:`kmon.engine.training.loss_kinds`; task None for a
loss kmon does not know). Logs written before kmon recorded them lack those three.
Everything that needs to know what a head is (the probes, the Heads grid, the
explanations) reads it from here, never from log-key strings. This module imports
no Keras.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

HeadMap = dict[str, dict[str, Any]]

TRAIN, VAL = "train", "val"

CLASSIFICATION, REGRESSION = "classification", "regression"

#: Older logs only (no ``task`` in the head map): words in a loss's name that tell a
#: classifier's loss, then a regression's.
_CLASSIFIER_WORDS = ("crossentropy", "bce", "cce", "hinge", "focal", "kl")
_REGRESSION_WORDS = ("mse", "mae", "mape", "msle", "squared", "absolute", "huber", "cosh")


@dataclass(frozen=True, slots=True)
class HeadKind:
    """What a head's loss trains it for.

    Attributes:
        task: ``"classification"``, ``"regression"``, or None when unknown (a custom
            loss, no loss).
        binary: each output column is a separate yes/no probability (binary
            crossentropy), not one distribution over classes.
        from_logits: the loss reads the outputs as logits, not probabilities.
    """

    task: str | None
    binary: bool = False
    from_logits: bool = False

    @property
    def classification(self) -> bool:
        return self.task == CLASSIFICATION

    @property
    def regression(self) -> bool:
        return self.task == REGRESSION


def head_kind(entry: dict[str, Any]) -> HeadKind:
    """What the head of this head-map entry is trained for.

    Read from the entry's ``task``, ``binary`` and ``from_logits``. An entry from an
    older log has none of them: only then is the loss's name read, once, here (a
    classifier's words first, so ``squared_hinge`` is one; ``binary`` in the name
    for a binary one; never from logits, which no name tells).
    """
    if "task" in entry:
        task = entry.get("task")
        return HeadKind(
            task if isinstance(task, str) else None,
            entry.get("binary") is True,
            entry.get("from_logits") is True,
        )
    name = str(entry.get("loss") or "").lower()
    if any(word in name for word in _CLASSIFIER_WORDS):
        return HeadKind(CLASSIFICATION, binary="binary" in name)
    if any(word in name for word in _REGRESSION_WORDS):
        return HeadKind(REGRESSION)
    return HeadKind(None)


@dataclass(frozen=True, slots=True)
class KeyPlace:
    """Where one log key belongs.

    Attributes:
        head: the head's name, or None for the total (and for keys no head claims).
        quantity: ``"loss"`` or the metric's own name (``"accuracy"``).
        split: ``"train"`` or ``"val"``.
        known: False for keys the head map does not explain (a custom tracker).
    """

    head: str | None
    quantity: str
    split: str
    known: bool = True


def metric_quantity(head: str, log_name: str, prefixed: bool) -> str:
    """``"accuracy"`` for ``"topic_accuracy"`` of head ``topic``."""
    prefix = f"{head}_"
    return log_name[len(prefix) :] if prefixed and log_name.startswith(prefix) else log_name


def key_places(heads: HeadMap) -> dict[str, KeyPlace]:
    """Every log key the head map predicts, training and ``val_``, with its place."""
    places = {"loss": KeyPlace(None, "loss", TRAIN)}
    prefixed = len(heads) > 1
    for head, entry in heads.items():
        if entry.get("loss_key"):
            places[entry["loss_key"]] = KeyPlace(head, "loss", TRAIN)
        for name in entry.get("metrics") or []:
            places[name] = KeyPlace(head, metric_quantity(head, name, prefixed), TRAIN)
    for key, place in list(places.items()):
        places.setdefault(f"val_{key}", KeyPlace(place.head, place.quantity, VAL))
    return places


def place_key(key: str, places: dict[str, KeyPlace]) -> KeyPlace:
    """The place of ``key``; keys the head map does not know keep their own name."""
    found = places.get(key)
    if found is not None:
        return found
    if key.startswith("val_"):
        return KeyPlace(None, key[len("val_") :], VAL, known=False)
    return KeyPlace(None, key, TRAIN, known=False)
