"""The head map, kmon's one model of a head, and where each log key belongs in it.

A head map is plain JSON, read from the compiled model by
:mod:`kmon.engine.training.heads` and sent in ``fit_start``:
``{name: {"loss": str | None, "weight": float | None, "metrics": [log names],
"loss_key": str | None}}`` where ``name`` is the name Keras uses in the logs (the
output's dict key, or its layer name). Everything that needs to know what a head is
(the probes, the Heads grid, the explanations) reads it from here, never from
log-key strings. This module imports no Keras.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

HeadMap = dict[str, dict[str, Any]]

TRAIN, VAL = "train", "val"



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
