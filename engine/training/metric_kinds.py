"""What each logged value is, read from the compiled model rather than guessed from
key strings: which values can be turned back into per-batch values, being running
means weighted by samples (``MEAN``) or by steps (``STEP_MEAN``, each step counts
once whatever its size) or the square root of one (``ROOT_MEAN_SQUARE``), and
which are not.

Facts this relies on, checked against Keras 3's trainers (``compile_utils.py`` and
``backend/*/trainer.py``):

- the total ``loss`` tracker is a ``Mean`` updated once per step with
  ``sample_weight=batch_size`` (a dynamic shape) by Keras's own ``train_step``.
  An overridden one updates it as it likes: the keras-io guide's pattern
  (``metric.update_state(loss)`` for every metric named "loss") counts each step
  once, so there History's loss is a plain mean over steps;
- the per-output ``<head>_loss`` trackers use the *static* batch size, which is
  unknown inside TensorFlow's traced train step: there each step counts once,
  whatever its size, so History's head losses are plain means over steps while
  the total loss is weighted by samples. Eagerly, or on JAX, they count samples.
  kmon reads the trackers' counts once, at the first batch, to tell which;
- compiled ``metrics`` (not ``weighted_metrics``) are updated without sample
  weights, so each sample (or element, for sequence outputs) counts once;
- ``RootMeanSquaredError`` is the square root of a running mean of squares;
- confusion-matrix metrics (AUC, Precision, Recall...) are not means at all.

So, beyond Keras's own rules, every ``Mean`` tracker's weighting is read from its
count after the first dispatch: its samples (a sample-weighted mean), its steps
(a per-step mean), or neither (not recoverable). Where both are the same (a batch
of one) the two weightings agree. An overridden ``train_step`` may pass ``fit()``'s
sample weights to any tracker, whose count is then their sum: there only a
per-step count is trusted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from kmon.engine.events import MEAN, ROOT_MEAN_SQUARE, STEP_MEAN
from kmon.engine.training.model_info import all_layers, output_names
from kmon.engine.training.value_bounds import Range, loss_range, metric_range, total_loss_range


@dataclass(frozen=True, slots=True)
class KeyKind:
    """How one log key can be recovered per batch.

    Attributes:
        kind: ``MEAN``, ``ROOT_MEAN_SQUARE``, ``STEP_MEAN``, or None when not
            recoverable.
        reason: why not, for the user, when ``kind`` is None.
        low: the least value the key can take (from its loss or metric).
        high: the greatest.
    """

    kind: str | None
    reason: str = ""
    low: float = -math.inf
    high: float = math.inf

    @property
    def recoverable(self) -> bool:
        return self.kind is not None

    @property
    def bounded(self) -> bool:
        return self.low > -math.inf or self.high < math.inf


@dataclass(frozen=True, slots=True)
class FirstDispatch:
    """The fit's first dispatch, which the trackers' counts are read after.

    Attributes:
        samples: its samples, when kmon knows them apart from the trackers (array
            inputs), else None.
        steps: its steps (``steps_per_execution``, fewer for a shorter epoch).
    """

    samples: int | None = None
    steps: int = 1


def classify_log_keys(
    model, *, sample_weighted: bool = False, first: FirstDispatch | None = None
) -> dict[str, KeyKind]:
    """Map every training log key the model produces to how it can be recovered.

    Args:
        model: a compiled Keras 3 model, after its first step: the trackers'
            counts are read then.
        sample_weighted: ``fit`` got ``sample_weight`` or ``class_weight`` (then
            ``weighted_metrics`` are weighted by values kmon cannot see).
        first: the first dispatch; without it, counts are read against the loss
            tracker's alone (Keras's own ``train_step``).
    """
    import keras

    first = first or FirstDispatch()
    kinds: dict[str, KeyKind] = {}
    masked = _uses_masking(model)
    loss_tracker = getattr(model, "_loss_tracker", None)
    custom_step = overrides(model, "train_step")
    counts = _Counts(model, loss_tracker, custom_step, custom_step and sample_weighted, first)
    head_ranges = _head_loss_ranges(model)
    for metric in getattr(model, "metrics", []) or []:
        if type(metric).__name__ == "CompileMetrics":
            kinds.update(
                _compiled_metric_kinds(
                    metric, keras, masked, sample_weighted, counts if custom_step else None
                )
            )
        elif metric is loss_tracker:
            bounds = total_loss_range(model, bool(added_loss_layers(model)))
            # Keras's own train_step counts the batch's samples; a custom one
            # chooses (the guide's updates it once per step).
            kind = counts.kind_of(metric) if custom_step else KeyKind(MEAN)
            kinds[metric.name] = _bounded(kind, bounds)
        elif _is_output_loss_tracker(metric, model):
            bounds = next((r for m, r in head_ranges if m is metric), None)
            kinds[metric.name] = _bounded(counts.kind_of(metric), bounds)
        else:
            # A tracker of the user's own: its count after the first step tells
            # whether it counts samples or steps.
            kinds[metric.name] = _bounded(
                _tracker_kind(metric, keras, counts), metric_range(metric)
            )
    return kinds


_UNSEEN_WEIGHTS = "the overridden train_step may weight it by sample weights kmon cannot see"


def overrides(model, method: str) -> bool:
    """Whether the model's class replaces ``keras.Model.<method>``."""
    import keras

    return getattr(type(model), method, None) is not getattr(keras.Model, method, None)


def added_loss_layers(model) -> list[str]:
    """Layers (the model included) whose ``call`` added a loss with ``add_loss()``
    in the last call, read after the first step: Keras keeps those losses until
    the next call (in a stateless scope, on JAX, their ids). Layers with an
    activity regularizer are left out: it adds its penalty the same way."""
    found = []
    try:
        layers = list(model._flatten_layers(include_self=True))
    except (AttributeError, TypeError):
        return found
    for layer in layers:
        if getattr(layer, "activity_regularizer", None) is not None:
            continue
        if getattr(layer, "_losses", None) or getattr(layer, "_loss_ids", None):
            found.append(str(layer.name))
    return found


class _Counts:
    """Reads a tracker's count after the first dispatch against its samples and
    its steps, to tell a sample-weighted mean from a per-step one.

    Args:
        custom_step: the model overrides ``train_step``.
        hidden_weights: it does, and ``fit()`` got sample or class weights, which
            it may pass to any tracker: a count equal to the samples may then be
            a sum of weights that happens to match, so only a per-step count is
            trusted.
    """

    def __init__(
        self, model, loss_tracker, custom_step: bool, hidden_weights: bool, first: FirstDispatch
    ) -> None:
        from kmon.engine.training.distribute import is_multi_worker, strategy_of

        self.steps = first.steps
        self.hidden_weights = hidden_weights
        self._samples: float | None = None
        # Keras's own train_step adds the batch's samples to the loss tracker: this
        # process's share of them, under tf.distribute (read when first asked).
        self._tracker = loss_tracker if not custom_step else None
        if self._tracker is None and first.samples is not None:
            if not is_multi_worker(strategy_of(model)):
                self._samples = float(first.samples)

    @property
    def samples(self) -> float | None:
        """The first dispatch's samples, as far as known. The loss tracker's count
        is read when first asked: a device read (0.2-0.3 ms on TensorFlow, on the
        training thread) that a model with no tracker to compare it with (one
        output and Keras's own ``train_step``) does not need."""
        tracker, self._tracker = self._tracker, None
        if tracker is not None:
            self._samples = _local_count(tracker)
        return self._samples

    def kind_of(self, metric, per_element: bool = False) -> KeyKind:
        """``per_element``: a compiled metric, which counts every element of a
        sequence output, so a whole multiple of the samples."""
        count = _local_count(metric)
        if count is None:
            return KeyKind(None, "cannot read how its tracker is weighted")
        if count == 0:
            return KeyKind(None, "its tracker was not updated by the first step")
        samples = self.samples
        per_sample = samples and (count == samples or (per_element and count % samples == 0))
        if per_sample and not self.hidden_weights:
            return KeyKind(MEAN)
        # Each replica of this process counts a step once.
        if count == self.steps * _local_replicas(metric):
            return KeyKind(STEP_MEAN)
        if self.hidden_weights:
            return KeyKind(None, _UNSEEN_WEIGHTS)
        if self.samples is None:
            return KeyKind(None, "batch sizes unknown: cannot tell whether it counts samples")
        return KeyKind(
            None,
            f"its tracker counted {count:g} after the first step: neither its "
            f"{self.samples:g} samples nor its {self.steps} step(s)",
        )


def _local_count(metric) -> float | None:
    from kmon.engine.training.distribute import local_sum

    try:
        # This process's replicas only: under tf.distribute the counts are per
        # replica, and summing other workers' copies would be a collective.
        return local_sum(metric.count)
    except (AttributeError, TypeError, ValueError):
        return None


def _local_replicas(metric) -> int:
    from kmon.engine.training.distribute import local_replicas

    return local_replicas(metric.count)


def _bounded(kind: KeyKind, bounds: Range | None) -> KeyKind:
    if bounds is None or kind.kind is None:
        return kind
    return KeyKind(kind.kind, kind.reason, *bounds)


def _tracker_kind(metric, keras, counts: _Counts) -> KeyKind:
    if not isinstance(metric, keras.metrics.Mean):
        return KeyKind(None, f"{type(metric).__name__} is not a running mean")
    kind = counts.kind_of(metric)
    if kind.kind == MEAN and isinstance(metric, keras.metrics.RootMeanSquaredError):
        return KeyKind(ROOT_MEAN_SQUARE)
    return kind


def _head_loss_ranges(model) -> list[tuple[object, Range | None]]:
    """Each per-output loss tracker with its loss's range: ``CompileLoss`` keeps
    them in the order of its flat losses."""
    compile_loss = getattr(model, "_compile_loss", None)
    trackers = list(getattr(compile_loss, "metrics", None) or [])
    entries = list(getattr(compile_loss, "_flat_losses", None) or [])
    return [(tracker, loss_range(entry.loss)) for tracker, entry in zip(trackers, entries)]


def _is_output_loss_tracker(metric, model) -> bool:
    # CompileLoss keeps one Mean per loss when there are several: the exact answer,
    # also for subclassed models, which have no output names.
    trackers = getattr(getattr(model, "_compile_loss", None), "metrics", None) or []
    if any(metric is tracker for tracker in trackers):
        return True
    names = set(output_names(model))
    return (
        type(metric).__name__ == "Mean"
        and metric.name.endswith("_loss")
        and metric.name[: -len("_loss")] in names
    )


def _compiled_metric_kinds(container, keras, masked, sample_weighted, counts):
    """Keras's own train_step updates compiled ``metrics`` without sample weights;
    a custom one (``counts`` given) may do anything: its counts tell."""
    kinds = {}
    for name, _output, metric, weighted in compiled_metric_names(container):
        kind = _metric_kind(metric, keras, masked, weighted and sample_weighted)
        if counts is not None and kind.kind is not None:
            counted = counts.kind_of(metric, per_element=True)
            kind = kind if counted.kind == MEAN else counted
        kinds[name] = _bounded(kind, metric_range(metric))
    return kinds


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
    """A mask reaches an output, so a metric counts each batch's unmasked elements.
    A mask that a layer consumes (an RNN that returns its last state) does not."""
    import keras

    try:
        outputs = list(model.outputs or [])
    except (AttributeError, ValueError):
        outputs = []
    if outputs:
        # A functional or Sequential model's outputs carry the mask they are given.
        return any(getattr(output, "_keras_mask", None) is not None for output in outputs)
    # A subclassed model: where its masks go is not known.
    for layer in all_layers(model):
        if isinstance(layer, keras.layers.Masking) or getattr(layer, "mask_zero", False):
            return True
    return False
