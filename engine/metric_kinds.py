"""What each logged value is, read from the compiled model rather than guessed from
key strings: which values are sample-weighted running means (and so can be turned
back into per-batch values) and which are not.

Facts this relies on, checked against Keras 3's trainers (``compile_utils.py`` and
``backend/*/trainer.py``):

- the total ``loss`` tracker is a ``Mean`` updated once per step with
  ``sample_weight=batch_size`` (a dynamic shape);
- the per-output ``<head>_loss`` trackers use the *static* batch size, which is
  unknown inside TensorFlow's traced train step: there each step counts once,
  whatever its size, so History's head losses are plain means over steps while
  the total loss is weighted by samples. Eagerly, or on JAX, they count samples.
  kmon reads the trackers' counts once, at the first batch, to tell which;
- compiled ``metrics`` (not ``weighted_metrics``) are updated without sample
  weights, so each sample (or element, for sequence outputs) counts once;
- ``RootMeanSquaredError`` is the square root of a running mean of squares;
- confusion-matrix metrics (AUC, Precision, Recall...) are not means at all.
"""

from __future__ import annotations

from dataclasses import dataclass

MEAN = "mean"
"""A running mean weighted by samples: per-batch values are exact."""
ROOT_MEAN_SQUARE = "rms"
"""The square root of such a running mean (RMSE): recovered through the squares."""
STEP_MEAN = "step_mean"
"""A running mean in which every step counts once, whatever its batch size."""


@dataclass(frozen=True, slots=True)
class KeyKind:
    """How one log key can be recovered per batch.

    Attributes:
        kind: ``MEAN``, ``ROOT_MEAN_SQUARE``, or None when not recoverable.
        reason: why not, for the user, when ``kind`` is None.
    """

    kind: str | None
    reason: str = ""

    @property
    def recoverable(self) -> bool:
        return self.kind is not None


def classify_log_keys(model, *, sample_weighted: bool = False) -> dict[str, KeyKind]:
    """Map every training log key the model produces to how it can be recovered.

    Args:
        model: a compiled Keras 3 model (built, i.e. after the first step).
        sample_weighted: ``fit`` got ``sample_weight`` or ``class_weight`` (then
            ``weighted_metrics`` are weighted by values kmon cannot see).
    """
    import keras

    kinds: dict[str, KeyKind] = {}
    masked = _uses_masking(model)
    loss_tracker = getattr(model, "_loss_tracker", None)
    for metric in getattr(model, "metrics", []) or []:
        if type(metric).__name__ == "CompileMetrics":
            kinds.update(_compiled_metric_kinds(metric, keras, masked, sample_weighted))
        elif metric is loss_tracker:
            kinds[metric.name] = KeyKind(MEAN)
        elif _is_output_loss_tracker(metric, model):
            kinds[metric.name] = _output_loss_kind(metric, loss_tracker, keras)
        else:
            # A tracker from a custom train_step: its weighting (per step? per
            # sample?) is the user's choice, so a per-batch value could be wrong.
            kinds[metric.name] = KeyKind(None, "custom metric with unknown weighting")
    return kinds


def _is_output_loss_tracker(metric, model) -> bool:
    # CompileLoss keeps one Mean per loss when there are several: the exact answer,
    # also for subclassed models, which have no output names.
    trackers = getattr(getattr(model, "_compile_loss", None), "metrics", None) or []
    if any(metric is tracker for tracker in trackers):
        return True
    names = set(_output_names(model))
    return (
        type(metric).__name__ == "Mean"
        and metric.name.endswith("_loss")
        and metric.name[: -len("_loss")] in names
    )


def _output_loss_kind(metric, loss_tracker, keras) -> KeyKind:
    """Per-sample or per-step weighting, read from the counts after the first step."""
    from .distribute import local_sum

    try:
        # This process's replicas only: under tf.distribute the counts are per
        # replica, and summing other workers' copies would be a collective.
        own = local_sum(metric.count)
        total = local_sum(loss_tracker.count)
    except (AttributeError, TypeError, ValueError):
        return KeyKind(None, "cannot tell how this head's loss is weighted")
    if own == total:
        return KeyKind(MEAN)
    return KeyKind(STEP_MEAN)


def _output_names(model) -> list[str]:
    try:
        return list(model.output_names or [])
    except (AttributeError, ValueError):
        return []


def _compiled_metric_kinds(container, keras, masked: bool, sample_weighted: bool):
    return {
        name: _metric_kind(metric, keras, masked, weighted and sample_weighted)
        for name, _output, metric, weighted in compiled_metric_names(container)
    }


def compiled_metric_names(container) -> list[tuple[str, str | None, object, bool]]:
    """``(log name, output name, metric, weighted)`` for every metric of a built
    ``CompileMetrics``, named exactly as ``CompileMetrics.result()`` names them:
    ``<output>_<metric.name>`` for multi-output models, ``_1``, ``_2``... for
    repeated names, ``weighted_`` for a weighted metric that repeats an unweighted
    one. (The head map in :mod:`.heads` reuses this.)"""
    entries: list[tuple[str, str | None, object, bool]] = []
    counters: dict[str, int] = {}
    for weighted, lists in (
        (False, getattr(container, "_flat_metrics", None) or []),
        (True, getattr(container, "_flat_weighted_metrics", None) or []),
    ):
        for metric_list in lists:
            if not metric_list:
                continue
            output = metric_list.output_name or None
            prefix = f"{output}_" if output else ""
            for metric in metric_list.metrics:
                name = prefix + metric.name
                if name not in counters:
                    counters[name] = 1
                elif not weighted:
                    index = counters[name]
                    counters[name] += 1
                    name = f"{name}_{index}"
                else:
                    name = f"{prefix}weighted_{metric.name}"
                    if name not in counters:
                        counters[name] = 1
                    else:
                        index = counters[name]
                        counters[name] += 1
                        name = f"{name}_{index}"
                entries.append((name, output, metric, weighted))
    return entries


def _metric_kind(metric, keras, masked: bool, weighted: bool) -> KeyKind:
    if isinstance(metric, keras.metrics.RootMeanSquaredError):
        kind = ROOT_MEAN_SQUARE
    elif isinstance(metric, keras.metrics.Mean):
        kind = MEAN
    else:
        return KeyKind(None, f"{type(metric).__name__} is not a running mean")
    if weighted:
        return KeyKind(None, "weighted by sample weights kmon cannot see per batch")
    if masked:
        return KeyKind(None, "masked outputs: each batch counts a different number of elements")
    return KeyKind(kind)


def _uses_masking(model) -> bool:
    import keras

    for layer in _all_layers(model):
        if isinstance(layer, keras.layers.Masking) or getattr(layer, "mask_zero", False):
            return True
    return False


def _all_layers(model):
    seen = set()
    stack = list(getattr(model, "layers", []) or [])
    while stack:
        layer = stack.pop()
        if id(layer) in seen:
            continue
        seen.add(id(layer))
        yield layer
        stack.extend(getattr(layer, "layers", []) or [])
