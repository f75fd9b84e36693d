"""The ReLU-family layers of a model and how active their units are: one forward pass
on the probe batch that returns the model's predictions and, for each such layer,
every unit's largest absolute output across the probe samples (0: a dead unit).

Facts this relies on, checked on Keras 3.15 / TensorFlow 2.21
(``tests/engine/test_dead_units.py``):

- A layer's activation is the ``keras.activations`` function it was given (its
  ``__name__`` is the name: ``relu``, ``relu6``, ``hard_silu`` for ``hard_swish``
  too, ``sparse_plus``); these four output exactly 0 on a half-line of inputs, and
  their gradient there is 0 too, so a unit that stays there never learns again.
  ``leaky_relu``, ``elu``, ``selu``, ``gelu``, ``silu`` and ``mish`` never output
  exactly 0 for a whole half-line; ``keras.layers.ReLU`` does unless its
  ``negative_slope`` is above 0. Recurrent layers are left out: their output is not
  their activation of a weighted sum.
- A ``Sequential`` or functional model's top-level layers have an ``output``
  tensor in the model's graph (a shared layer, called more than once, gives its
  first call's: kmon leaves it out), and ``keras.Model(model inputs, (model
  outputs, reductions of those tensors))`` runs the same layers on the same
  variables: its predictions equal ``model.predict_on_batch``'s, and building it
  leaves the model's config and weights as they were. A subclassed model has no
  graph to read: kmon does not check it, and says so once. Nor are the layers
  inside a nested model read.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Any

import numpy as np

from kmon.engine.alarms.predictions import predict
from kmon.engine.alarms.probe_batch import ProbeBatch

#: ``keras.activations`` whose output is exactly 0 on a whole half-line of inputs.
RELU_FAMILY = ("relu", "relu6", "hard_silu", "sparse_plus")

#: Each model's view (see :class:`UnitView`), or None where it has none.
_views: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


@dataclass
class UnitLayer:
    """One ReLU-family layer the view reads.

    Attributes:
        name: the layer's name.
        activation: the activation's name (``relu``, ``relu6``...; ``ReLU`` for the
            layer).
        units: units (the channel axis's size).
    """

    name: str
    activation: str
    units: int


@dataclass
class UnitView:
    """A model over the same layers that returns the model's predictions and, per
    ReLU-family layer, each unit's largest absolute output across the batch.

    Attributes:
        model: the ``keras.Model`` that runs it (None: the model has no graph).
        layers: the layers it reads, in model order.
        skipped: why the model is not checked (a subclassed model), or None.
    """

    model: Any
    layers: list[UnitLayer]
    skipped: str | None = None


def relu_activation(layer: Any) -> str | None:
    """The name of ``layer``'s ReLU-family activation, or None when it has none."""
    import keras

    if isinstance(layer, keras.layers.ReLU):
        return "ReLU" if not layer.negative_slope else None
    if isinstance(layer, keras.layers.RNN) or hasattr(layer, "cell"):
        return None
    name = getattr(getattr(layer, "activation", None), "__name__", None)
    return name if name in RELU_FAMILY else None


def unit_view(model: Any) -> UnitView:
    """The model's view, built once per model (the first call compiles it, like
    Keras's own predict function)."""
    view = _views.get(model)
    if view is None:
        view = _build(model)
        _views[model] = view
    return view


def forward(model: Any, batch: ProbeBatch, view: UnitView) -> tuple[Any, list[np.ndarray]]:
    """One forward pass on the probe batch (inference mode): the model's predictions,
    as ``model.predict_on_batch`` returns them, and each unit's largest absolute
    output per layer of ``view`` (one array of ``units`` values each)."""
    if view.model is None:
        return predict(model, batch), []
    predictions, maxima = predict(model, batch, run=view.model)
    return predictions, [np.asarray(values, dtype=np.float64).reshape(-1) for values in maxima]


def _build(model: Any) -> UnitView:
    import keras

    if isinstance(model, keras.Sequential):
        inputs, outputs = model.inputs[0], model.outputs[0]
    elif isinstance(model, keras.src.models.Functional):
        inputs, outputs = model.input, model.output
        if isinstance(outputs, (list, tuple)) and len(outputs) == 1:
            # predict_on_batch returns a one-output model's array unwrapped.
            outputs = outputs[0]
    else:
        found = [layer for layer in _nested_layers(model) if relu_activation(layer)]
        if not found:
            return UnitView(None, [])
        return UnitView(
            None,
            [],
            skipped=(
                f"{type(model).__name__} is a subclassed model: kmon cannot read its "
                f"{len(found)} ReLU layer(s)' outputs without a layer graph"
            ),
        )
    layers, reductions = [], []
    for layer in model.layers:
        activation = relu_activation(layer)
        if activation is None:
            continue
        if len(getattr(layer, "_inbound_nodes", ())) != 1:
            # A shared layer: its ``output`` is its first call's only.
            continue
        tensor = layer.output
        rank = len(tensor.shape)
        axis = 1 if getattr(layer, "data_format", None) == "channels_first" else rank - 1
        # Most of the family never goes below 0: its max is its largest |output|,
        # without a copy of the whole activation (a 256-image conv layer's is MBs).
        signed = activation == "hard_silu" or getattr(layer, "threshold", 0) < 0
        reductions.append(_unit_maxima(keras.ops.abs(tensor) if signed else tensor, axis))
        layers.append(UnitLayer(layer.name, activation, int(tensor.shape[axis])))
    if not layers:
        return UnitView(None, [])
    return UnitView(keras.Model(inputs, (outputs, reductions)), layers)


def _unit_maxima(tensor: Any, axis: int) -> Any:
    """Each unit's largest value over every axis but ``axis``, one axis at a time
    from the outside in: TensorFlow's max over the outer axes of a conv layer's
    output at once took a quarter of the prediction probe's time on a small CNN,
    one axis at a time next to nothing."""
    import keras

    for _ in range(axis):
        tensor = keras.ops.max(tensor, axis=0)
    for _ in range(len(tensor.shape) - 1):
        tensor = keras.ops.max(tensor, axis=-1)
    return tensor


def _nested_layers(model: Any) -> list[Any]:
    try:
        # Keras's own walk: it also finds the layers a subclassed model keeps in
        # attributes of its custom layers.
        return list(model._flatten_layers(include_self=False))
    except AttributeError:
        return list(getattr(model, "layers", []) or [])
