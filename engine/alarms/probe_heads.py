"""The model as the probes see it: its heads, their predictions and targets paired
head by head, and whether the model scales its own inputs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

_CLASSIFICATION_LOSSES = ("crossentropy", "hinge", "kl_divergence", "kld", "focal")
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
    """One model output and how it is trained."""

    name: str
    loss: str
    classification: bool
    from_logits: bool = False
    binary: bool = False


def model_heads(model: Any) -> list[Head]:
    names = _output_names(model)
    loss = getattr(model, "loss", None)
    heads = []
    for index, name in enumerate(names):
        if isinstance(loss, dict):
            head_loss = loss.get(name)
        elif isinstance(loss, (list, tuple)):
            head_loss = loss[index] if index < len(loss) else None
        else:
            head_loss = loss
        label = _loss_name(head_loss)
        classification = any(word in label for word in _CLASSIFICATION_LOSSES)
        heads.append(
            Head(
                name,
                label,
                classification,
                bool(getattr(head_loss, "from_logits", False)),
                "binary" in label,
            )
        )
    return heads


def _output_names(model: Any) -> list[str]:
    try:
        names = list(model.output_names or [])
    except (AttributeError, ValueError):
        names = []
    if not names:
        # Sequential models have no output_names: their output is the last layer's.
        layers = list(getattr(model, "layers", None) or [])
        names = [layers[-1].name] if layers else ["output"]
    return [str(name) for name in names]


def _loss_name(loss: Any) -> str:
    if loss is None:
        return ""
    if isinstance(loss, str):
        return loss.lower()
    fn = getattr(loss, "fn", None)
    name = getattr(loss, "name", None) or getattr(fn, "__name__", None)
    name = name or getattr(loss, "__name__", None) or type(loss).__name__
    return str(name).lower()


def inputs_self_normalized(model: Any) -> str | None:
    """Why the model's raw inputs need no scaling (it scales them itself), or None."""
    try:
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

