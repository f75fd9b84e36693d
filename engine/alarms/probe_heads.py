"""The model as the probes see it: its heads (from the fit's head map), their
predictions and targets paired head by head, and whether the model scales its own
inputs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kmon.engine.head_map import HeadMap, head_kind

_PREPROCESSING_LAYERS = (
    "Normalization",
    "Rescaling",
    "Embedding",
    "StringLookup",
    "IntegerLookup",
    "CategoryEncoding",
    "Hashing",
    "TextVectorization",
    "Discretization",
)
_NORMALIZING_FIRST_LAYERS = ("BatchNormalization", "LayerNormalization")


@dataclass
class Head:
    """One model output and how it is trained, as the probes use it (see
    :class:`~kmon.engine.head_map.HeadKind`).

    Attributes:
        name: the head's name in the head map.
        loss: its loss's name ("" without one).
        classification: its loss trains a classifier.
        from_logits: the outputs are logits, not probabilities.
        binary: each output column is a separate yes/no probability.
    """

    name: str
    loss: str
    classification: bool
    from_logits: bool = False
    binary: bool = False


def heads_of(head_map: HeadMap | None) -> list[Head]:
    """The heads of the fit's head map, in its order (the model's output order), each
    with what its loss trains it for; [] while the head map is not known."""
    heads = []
    for name, entry in (head_map or {}).items():
        kind = head_kind(entry)
        loss = str(entry.get("loss") or "")
        heads.append(Head(name, loss, kind.classification, kind.from_logits, kind.binary))
    return heads


def inputs_self_normalized(model: Any) -> str | None:
    """Why the model's raw inputs need no scaling (it scales them itself), or None."""
    try:
        # Keras's own walk, not model_info.all_layers: it also finds the layers inside
        # a custom layer, which has no ``layers`` to follow.
        layers = model._flatten_layers(include_self=False)
    except AttributeError:
        layers = list(getattr(model, "layers", []) or [])
    for layer in layers:
        if type(layer).__name__ in _PREPROCESSING_LAYERS:
            return f"the model has a {type(layer).__name__} layer"
    top = list(getattr(model, "layers", []) or [])
    top = [layer for layer in top if type(layer).__name__ != "InputLayer"]
    if top and type(top[0]).__name__ in _NORMALIZING_FIRST_LAYERS:
        return f"the model starts with {type(top[0]).__name__}"
    return None


def align(heads: list[Head], y_pred: Any, y: Any) -> list[tuple[Head, Any, Any]]:
    """Pair each head with its predictions and targets (None when unknown)."""
    names = [head.name for head in heads]
    preds = by_head(names, y_pred)
    targets = by_head(names, y) if y is not None else [None] * len(heads)
    return list(zip(heads, preds, targets))


def by_head(names: list[str], data: Any) -> list[Any]:
    """``data`` (one array, a list or a dict by output name) split by head."""
    if isinstance(data, dict):
        return [data.get(name) for name in names]
    if isinstance(data, (list, tuple)):
        if len(names) == 1 and len(data) != 1:
            return [data]
        return [data[i] if i < len(data) else None for i in range(len(names))]
    return [data] + [None] * (len(names) - 1)

