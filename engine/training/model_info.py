"""What kmon reads off a Keras model: output names, every layer, the first leaf of a
nested structure.

Facts this relies on (Keras 3.15, ``tests/engine/test_outputs_and_extra_losses.py``):
a functional model has ``output_names``; a ``Sequential`` model and a subclassed one
have none (the attribute raises). A built ``Sequential`` model still has ``outputs``,
each made by a layer; a subclassed model's outputs are unknown before it is called.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from typing import Any


def output_names(model: Any, *, by_layer: bool = False) -> list[str]:
    """The model's output names, as Keras logs them.

    Args:
        model: a Keras model.
        by_layer: name a model that has no ``output_names`` but one known output (a
            ``Sequential`` model) by the layer that makes that output, as Keras names
            its logs and the head map names its head. Off where only names Keras
            gives the model itself count (to match a tracker's name against them).

    Returns:
        ``model.output_names`` as strings; with ``by_layer``, the one output's layer
        name when there is no such list; [] when neither is known (a subclassed model).
    """
    try:
        names = [str(name) for name in (model.output_names or [])]
    except (AttributeError, ValueError):
        names = []
    if names or not by_layer:
        return names
    try:
        outputs = list(model.outputs or [])
        if len(outputs) == 1:
            return [str(outputs[0]._keras_history[0].name)]
    except (AttributeError, ValueError, IndexError, TypeError):
        pass
    return []


def all_layers(model: Any) -> Iterator[Any]:
    """Every layer of the model, nested ones and RNN cells included, each once,
    breadth-first in model order (a model's own layers before theirs).

    RNN layers keep their weights (and their regularizers) in a cell that is not in
    ``layers``, hence the cells. The model itself is not included.
    """
    seen: set[int] = set()
    queue = deque(getattr(model, "layers", None) or [])
    while queue:
        layer = queue.popleft()
        if id(layer) in seen:
            continue
        seen.add(id(layer))
        yield layer
        queue.extend(getattr(layer, "layers", None) or [])
        cell = getattr(layer, "cell", None)
        if cell is not None:
            queue.append(cell)


def first_leaf(data: Any) -> Any:
    """The first array of ``data``, which may be a list, tuple or dict of arrays (one
    per model input or output), nested; None for an empty one."""
    while isinstance(data, (list, tuple, dict)):
        if not data:
            return None
        data = next(iter(data.values())) if isinstance(data, dict) else data[0]
    return data
