"""The heads of a model: for each output, its loss, loss weight and metrics, read from
what ``compile()`` built rather than guessed from log-key strings.

Facts this relies on, checked on Keras 3.15 / TensorFlow 2.21 by
``tests/engine/test_heads.py`` on real compiled models (see also
``keras/src/trainers/compile_utils.py``):

- ``CompileLoss`` and ``CompileMetrics`` are built lazily: on TensorFlow without a
  distribution strategy, on the first training step. At ``on_train_begin`` they hold
  only the arguments given to ``compile()``. :func:`preview_head_map` builds fresh,
  unattached copies with those arguments on the model's symbolic outputs, so that
  Keras's own rules decide; :func:`built_head_map` reads the model's own containers
  once they are built.
- Keras logs ``<name>_loss`` per loss only when there is more than one loss; with a
  single loss, only the total ``loss`` is logged. The total is the sum of
  ``weight * head loss`` plus the model's own losses (regularizers, ``add_loss``),
  unless ``compute_loss`` or ``train_step`` is overridden.
- ``loss_weights``: a dict goes by name; a list goes by position over the outputs,
  but over a dict loss on dict outputs it follows the *sorted* keys; a single float
  applies to every head; a list with one loss for all heads raises. A missing
  weight counts as 1.0.
- Compiled metrics are named ``<output>_<metric.name>`` when the model has several
  outputs, unprefixed for one (:func:`~.metric_kinds.compiled_metric_names`).

A head map is plain JSON (see :mod:`kmon.engine.head_map`): ``{name: {"loss": str |
None, "weight": float | None, "metrics": [log names], "loss_key": str | None, "task":
str | None, "binary": bool, "from_logits": bool}}`` where ``name`` is the name Keras
uses in the logs (the output's dict key, or its layer name), and ``task``,
``binary`` and ``from_logits`` are read from the head's compiled loss objects
(:mod:`.loss_kinds`).
"""

from __future__ import annotations

from kmon.engine.head_map import HeadMap
from kmon.engine.training.loss_kinds import head_loss_kind, loss_identity
from kmon.engine.training.metric_kinds import added_loss_layers, compiled_metric_names, overrides
from kmon.engine.training.model_info import all_layers, output_names

#: The head of a single-output subclassed model: its output has no name.
SUBCLASSED_OUTPUT = "output"

#: Layer attributes that add a penalty to the total loss (and to no head).
REGULARIZER_ATTRS = (
    "kernel_regularizer",
    "bias_regularizer",
    "recurrent_regularizer",
    "activity_regularizer",
    "embeddings_regularizer",
    "depthwise_regularizer",
    "pointwise_regularizer",
    "beta_regularizer",
    "gamma_regularizer",
)


# -- from the model ------------------------------------------------------------------


def preview_head_map(model) -> HeadMap | None:
    """The head map before the first step (for ``fit_start``), or None when the
    model's outputs are not known yet (a subclassed model never called)."""
    compile_loss = getattr(model, "_compile_loss", None)
    compile_metrics = getattr(model, "_compile_metrics", None)
    if compile_loss is None and compile_metrics is None:
        return None
    if _built(compile_loss) and _built(compile_metrics):
        return built_head_map(model)
    y_pred = _symbolic_outputs(model)
    if y_pred is None:
        return None
    try:
        from keras.src.trainers.compile_utils import CompileLoss, CompileMetrics

        loss_copy = metrics_copy = None
        if compile_loss is not None:
            loss_copy = CompileLoss(
                compile_loss._user_loss,
                compile_loss._user_loss_weights,
                output_names=compile_loss.output_names,
            )
            loss_copy.build(y_pred, y_pred)
        if compile_metrics is not None:
            metrics_copy = CompileMetrics(
                compile_metrics._user_metrics,
                compile_metrics._user_weighted_metrics,
                output_names=compile_metrics.output_names,
            )
            metrics_copy.build(y_pred, y_pred)
    except Exception:  # noqa: BLE001 - any Keras-internal change: wait for the real build
        return None
    return _read(model, loss_copy, metrics_copy)


def head_loss_identities(model) -> dict[str, list[dict]]:
    """Each head's compiled losses as :func:`~.loss_kinds.loss_identity` says them,
    by head-map name: from the model's own compiled loss once built, else from an
    unattached copy built as :func:`preview_head_map` does ({} when neither can be).
    """
    compile_loss = getattr(model, "_compile_loss", None)
    if compile_loss is None:
        return {}
    if not _built(compile_loss):
        y_pred = _symbolic_outputs(model)
        if y_pred is None:
            return {}
        try:
            from keras.src.trainers.compile_utils import CompileLoss

            copy = CompileLoss(
                compile_loss._user_loss,
                compile_loss._user_loss_weights,
                output_names=compile_loss.output_names,
            )
            copy.build(y_pred, y_pred)
        except Exception:  # noqa: BLE001 - any Keras-internal change: no identities
            return {}
        compile_loss = copy
    single = _single_output_name(model)
    found: dict[str, list[dict]] = {}
    for entry in getattr(compile_loss, "_flat_losses", None) or []:
        head = entry.name if entry.path else single
        found.setdefault(head, []).append(loss_identity(entry.loss))
    return found


def built_head_map(model) -> HeadMap | None:
    """The head map read from the model's own compiled loss and metrics (after the
    first step), or None when they are not built."""
    compile_loss = getattr(model, "_compile_loss", None)
    compile_metrics = getattr(model, "_compile_metrics", None)
    if not (_built(compile_loss) and _built(compile_metrics)):
        return None
    if compile_loss is None and compile_metrics is None:
        return None
    try:
        return _read(model, compile_loss, compile_metrics)
    except (AttributeError, TypeError, ValueError):
        return None


def extra_loss_sources(model) -> list[str]:
    """What can make the total loss differ from the weighted sum of head losses, as
    far as the model's structure tells before its first step: regularizers, an
    overridden ``compute_loss`` or ``train_step``, and ``add_loss()`` when
    ``compile()`` got no loss (Keras's own ``compute_loss`` then has nothing else
    to add up). Which layers call ``add_loss()`` is seen only after they ran:
    :func:`built_extra_losses`."""
    found: list[str] = []
    seen: set[int] = set()
    for layer in all_layers(model):
        for attr in REGULARIZER_ATTRS:
            regularizer = getattr(layer, attr, None)
            # An RNN layer and its cell expose the same regularizer: name it once.
            if regularizer is not None and id(regularizer) not in seen:
                seen.add(id(regularizer))
                found.append(f"{layer.name}.{attr}")
    overridden = [
        f"{type(model).__name__}.{method} (overridden)"
        for method in ("compute_loss", "train_step")
        if overrides(model, method)
    ]
    if not found and not overridden and getattr(model, "_compile_loss", None) is None:
        found.append(NO_COMPILED_LOSS)
    return found + overridden


#: The total loss of a model compiled without a loss can only come from add_loss().
NO_COMPILED_LOSS = "add_loss() (compile() got no loss)"


def built_extra_losses(model, before: list[str]) -> list[str] | None:
    """``before`` (:func:`extra_loss_sources`) with the layers that called
    ``add_loss()`` in the first step, or None when there are none to add."""
    added = [f"{name}.add_loss()" for name in added_loss_layers(model)]
    if not added:
        return None
    return [source for source in before if source != NO_COMPILED_LOSS] + added


def _built(container) -> bool:
    return container is None or bool(getattr(container, "built", False))


def _symbolic_outputs(model):
    """The structure ``model(x)`` returns, as KerasTensors, or None."""
    try:
        outputs = list(model.outputs or [])
    except (AttributeError, ValueError):
        return None
    if not outputs:
        return None
    # Functional models return their outputs in the structure they were built with
    # (a dict, a list); Sequential returns its single tensor.
    structure = getattr(model, "_outputs_struct", None)
    if structure is not None:
        return structure
    return outputs[0] if len(outputs) == 1 else outputs


def _read(model, compile_loss, compile_metrics) -> HeadMap:
    single = _single_output_name(model)
    flat_losses = list(getattr(compile_loss, "_flat_losses", None) or [])
    losses: dict[str, list[tuple[str, float]]] = {}
    loss_objects: dict[str, list] = {}
    key_names: dict[str, str] = {}
    for entry in flat_losses:
        head = entry.name if entry.path else single
        weight = 1.0 if entry.loss_weights is None else float(entry.loss_weights)
        losses.setdefault(head, []).append((str(getattr(entry.loss, "name", entry.loss)), weight))
        loss_objects.setdefault(head, []).append(entry.loss)
        key_names[head] = entry.name
    metrics: dict[str, list[str]] = {}
    for log_name, output, _metric, _weighted in compiled_metric_names(compile_metrics):
        metrics.setdefault(output or single, []).append(log_name)

    names = _display_order(model)
    found = list(dict.fromkeys([*losses, *metrics]))
    if len(names) > 1 and set(found) <= set(names):
        order = names  # model order; outputs without loss or metric included
    else:
        order = sorted(found, key=lambda head: names.index(head) if head in names else len(names))
    per_loss_keys = len(flat_losses) > 1
    heads: HeadMap = {}
    for head in order:
        head_losses = losses.get(head, [])
        weights = {weight for _, weight in head_losses}
        heads[head] = {
            "loss": " + ".join(name for name, _ in head_losses) or None,
            "weight": next(iter(weights)) if len(weights) == 1 else None,
            "metrics": metrics.get(head, []),
            "loss_key": f"{key_names[head]}_loss"
            if per_loss_keys and len(head_losses) == 1
            else None,
            **head_loss_kind(loss_objects.get(head, [])),
        }
    return heads


def _single_output_name(model) -> str:
    names = output_names(model, by_layer=True)
    # A subclassed model: whatever call() returns has no name (and its last
    # layer need not be the one that made it).
    return names[0] if len(names) == 1 else SUBCLASSED_OUTPUT


def _display_order(model) -> list[str]:
    """Output names in the order the model was written with: a dict of outputs keeps
    its own key order (``output_names`` and the flattened outputs are sorted)."""
    try:
        structure = model.output
    except (AttributeError, ValueError):
        structure = None
    if isinstance(structure, dict):
        return [str(name) for name in structure]
    return output_names(model)


class FitHeads:
    """A fit's heads and extra losses, as its ``fit_start`` carries them (read before
    the first step) and as built by that step where they differ (a subclassed
    model's), which the batch events carry."""

    def __init__(self) -> None:
        self.previewed: HeadMap | None = None
        self.extra_losses: list[str] = []
        self.built: HeadMap | None = None
        """The head map read after the first step; None: as previewed."""
        self.built_extra_losses: list[str] | None = None

    def preview(self, model) -> None:
        """Before the fit's first step."""
        self.previewed = preview_head_map(model)
        self.extra_losses = extra_loss_sources(model)

    def read_built(self, model) -> None:
        """After the first step: the model's own built loss and metrics. Once a fit."""
        built = built_head_map(model)
        self.built = built if built is not None and built != self.previewed else None
        self.built_extra_losses = built_extra_losses(model, self.extra_losses)

    def head_map(self) -> HeadMap | None:
        """The built head map where it differs, else the previewed one."""
        return self.built if self.built is not None else self.previewed
