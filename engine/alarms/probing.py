"""Probes on a fixed batch of training data: prediction spread and gradient norms.

At fit start kmon keeps a probe batch (a few hundred training samples, spread over
the whole training set, or the first batches of a dataset) with its targets.
While training runs, :class:`~kmon.engine.alarms.probe_callback.ProbeCallback` asks the
probes below for numbers, within a time budget (:class:`ProbeBudget`), and
:mod:`kmon.engine.alarms.rules` decides what they mean.

A script can choose the probe batch, or change the probes, itself::

    from kmon.engine.probes import set_probe_batch, set_probe_config
    set_probe_batch(x_val[:256], y_val[:256])   # used by every later fit()
    set_probe_config(budget=0.05)               # probe more often

Prediction probes use ``model.predict_on_batch`` (inference mode, compiled, any
backend). Gradient probes differentiate the compiled loss with the backend's own
autodiff: ``tf.GradientTape``, ``jax.value_and_grad`` or ``torch.autograd``.
"""

from __future__ import annotations

import dataclasses
import math
import weakref
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kmon.engine.training.model_info import first_leaf

#: Samples in the probe batch taken from array inputs.
PROBE_SIZE = 256
#: Rows of the training data the fit-start data checks look at.
DATA_ROWS = 4096
#: Dataset batches read at most to fill the probe batch.
MAX_DATASET_BATCHES = 8

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


@dataclass(frozen=True)
class ProbeConfig:
    """How kmon probes a fit. The defaults keep probes to 1.1% of training time.

    Attributes:
        enabled: probe at all (data checks and the NaN check included).
        size: samples in the probe batch taken from array inputs.
        data_rows: rows of array inputs the fit-start data checks read.
        budget: share of training time prediction probes may take.
        gradient_budget: share of training time gradient probes may take.
        gradient_first_cost: seconds of budget that must accrue before the first
            gradient probe (its first call compiles a ``tf.function``).
        every: probe predictions every this many steps instead of by budget.
        gradient_every: probe gradients every this many steps instead of by budget.
        interval: seconds of training at least between two prediction probes.
        gradient_interval: seconds of training at least between two gradient probes.
        gradients: run gradient probes (TensorFlow, JAX and torch backends).
        stop_on_nan: stop training when the loss becomes NaN or Inf.
        variance_threshold: spread ratio under which a check counts as collapsed.
        variance_clear: spread ratio above which a check counts as recovered.
        variance_checks: consecutive collapsed checks that raise the alarm.
    """

    enabled: bool = True
    size: int = PROBE_SIZE
    data_rows: int = DATA_ROWS
    # 1.1% in all, the steps a probe slows after it included (ProbeAftermath):
    # what is left of a 2% training-overhead goal once kmon's own per-batch work
    # is paid. The LSTM scenario's alarms still come within its first epochs.
    budget: float = 0.008
    gradient_budget: float = 0.003
    gradient_first_cost: float = 0.0075
    every: int | None = None
    gradient_every: int | None = None
    # On fast steps the budget alone would probe many times a second, and what a
    # probe costs is more than the time measured inside it: on a 1 ms/step CPU model
    # the steps after a probe run slower too (see README, Training alarms). A few
    # probes a second are all the alarms need.
    interval: float = 0.25
    gradient_interval: float = 1.0
    gradients: bool = True
    stop_on_nan: bool = False
    variance_threshold: float = 0.05
    variance_clear: float = 0.1
    variance_checks: int = 3


# -- the user's own probe batch ---------------------------------------------------------

_user_batch: ProbeBatch | None = None


def set_probe_batch(x: Any, y: Any = None) -> None:
    """Use ``(x, y)`` as the probe batch of every later ``fit()`` in this process.

    ``x`` and ``y`` are what ``model.predict_on_batch`` and the loss accept: arrays,
    or lists/dicts of arrays for several inputs or outputs. Keep it to a few hundred
    samples. Without ``y`` only the data checks on ``x`` run. Call
    :func:`clear_probe_batch` to go back to kmon's own choice.
    """
    global _user_batch
    _user_batch = ProbeBatch(_to_numpy(x), None if y is None else _to_numpy(y), "set_probe_batch()")


def clear_probe_batch() -> None:
    """Forget the batch given to :func:`set_probe_batch`."""
    global _user_batch
    _user_batch = None


def user_probe_batch() -> ProbeBatch | None:
    return _user_batch


_user_config: ProbeConfig | None = None


def set_probe_config(config: ProbeConfig | None = None, **changes: Any) -> ProbeConfig:
    """Change how kmon probes every later ``fit()`` in this process.

    ``set_probe_config(enabled=False)`` turns alarms off; ``set_probe_config(every=10)``
    probes predictions every 10 steps whatever it costs; ``set_probe_config()`` goes
    back to the defaults. Options given on the command line (``--stop-on-nan``) still
    apply. Returns the configuration now in force.
    """
    global _user_config
    base = config or ProbeConfig()
    _user_config = dataclasses.replace(base, **changes) if (config or changes) else None
    return probe_config()


def probe_config() -> ProbeConfig:
    """The configuration :func:`set_probe_config` chose, or the defaults."""
    return _user_config or ProbeConfig()


# -- finding a probe batch in fit()'s arguments ---------------------------------------------


@dataclass
class ProbeBatch:
    """Inputs and targets to probe on; ``source`` says where they came from."""

    x: Any
    y: Any
    source: str

    @property
    def rows(self) -> int:
        first = first_leaf(self.x)
        return int(first.shape[0]) if first is not None and np.ndim(first) else 0


@dataclass
class FitData:
    """What ``fit()`` trains on: ``x``, ``y`` and, for arrays, the training samples
    (those before ``validation_split``)."""

    x: Any
    y: Any = None
    samples: int | None = None


def probe_batches(
    data: FitData, config: ProbeConfig
) -> tuple[ProbeBatch | None, ProbeBatch | None, str | None]:
    """``(probe batch, data-check sample, reason when there is none)``."""
    user = user_probe_batch()
    if data.samples is None and _is_array(first_leaf(data.x)):
        # Arrays with steps_per_epoch: fit() does not say how many samples it uses.
        data = FitData(data.x, data.y, int(first_leaf(data.x).shape[0]))
    if data.samples is not None:
        probe = ProbeBatch(
            _take(data.x, _spread(data.samples, config.size)), None, "training arrays"
        )
        sample = ProbeBatch(
            _take(data.x, _spread(data.samples, config.data_rows)), None, "training arrays"
        )
        if data.y is not None:
            probe.y = _take(data.y, _spread(data.samples, config.size))
            sample.y = _take(data.y, _spread(data.samples, config.data_rows))
        return (user or probe), sample, None
    batch, reason = _from_dataset(data.x, config.size)
    if user is not None:
        return user, batch or user, None
    return batch, batch, reason


def _spread(samples: int, count: int) -> np.ndarray:
    """``count`` indices spread evenly over ``range(samples)``."""
    if samples <= count:
        return np.arange(samples)
    return np.linspace(0, samples - 1, count).round().astype(np.int64)


def _take(data: Any, index: np.ndarray) -> Any:
    if data is None:
        return None
    if isinstance(data, dict):
        return {key: _take(value, index) for key, value in data.items()}
    if isinstance(data, (list, tuple)):
        return type(data)(_take(value, index) for value in data)
    if isinstance(data, np.ndarray):
        return data[index]
    if hasattr(data, "iloc"):  # pandas
        return np.asarray(data.iloc[index])
    import keras

    return keras.ops.convert_to_numpy(keras.ops.take(data, index, axis=0))


def _from_dataset(x: Any, size: int) -> tuple[ProbeBatch | None, str | None]:
    """The first batches of a ``tf.data.Dataset`` or ``PyDataset``."""
    kind = type(x).__name__
    batches = []
    rows = 0
    try:
        if _is_tf_dataset(x):
            iterator = iter(x.take(MAX_DATASET_BATCHES))
        elif hasattr(x, "__getitem__") and hasattr(x, "num_batches"):  # keras PyDataset
            count = min(x.num_batches or MAX_DATASET_BATCHES, MAX_DATASET_BATCHES)
            iterator = (x[i] for i in range(count))
        else:
            return None, (
                f"no probe batch: a {kind} cannot be read ahead without consuming it; "
                "pass one with kmon.engine.alarms.probing.set_probe_batch(x, y)"
            )
        for element in iterator:
            batches.append(element)
            rows += _rows(element[0] if isinstance(element, tuple) else element)
            if rows >= size:
                break
    except Exception as exc:  # noqa: BLE001 - any reader may fail; training must not
        return None, f"no probe batch: reading the {kind} failed ({type(exc).__name__}: {exc})"
    if not batches:
        return None, f"no probe batch: the {kind} gave no batch"
    first = batches[0]
    if not isinstance(first, tuple) or len(first) < 2:
        x_parts = [_to_numpy(b[0] if isinstance(b, tuple) else b) for b in batches]
        return ProbeBatch(_concat(x_parts), None, f"first {len(batches)} {kind} batch(es)"), None
    x_parts = [_to_numpy(b[0]) for b in batches]
    y_parts = [_to_numpy(b[1]) for b in batches]
    return (
        ProbeBatch(_concat(x_parts), _concat(y_parts), f"first {len(batches)} {kind} batch(es)"),
        None,
    )


def _is_array(x: Any) -> bool:
    shape = getattr(x, "shape", None)
    return (
        bool(shape) and isinstance(shape[0], int) and hasattr(x, "dtype") and not _is_tf_dataset(x)
    )


def _is_tf_dataset(x: Any) -> bool:
    return any(cls.__name__ in ("DatasetV2", "Dataset") for cls in type(x).__mro__) and hasattr(
        x, "take"
    )


def _rows(data: Any) -> int:
    first = first_leaf(data)
    shape = getattr(first, "shape", None)
    return int(shape[0]) if shape else 0


def _concat(parts: list[Any]) -> Any:
    first = parts[0]
    if isinstance(first, dict):
        return {key: _concat([p[key] for p in parts]) for key in first}
    if isinstance(first, (list, tuple)):
        return type(first)(_concat([p[i] for p in parts]) for i in range(len(first)))
    return np.concatenate([np.asarray(p) for p in parts], axis=0) if len(parts) > 1 else first


def _to_numpy(data: Any) -> Any:
    if data is None:
        return None
    if isinstance(data, dict):
        return {key: _to_numpy(value) for key, value in data.items()}
    if isinstance(data, (list, tuple)):
        return type(data)(_to_numpy(value) for value in data)
    if isinstance(data, np.ndarray):
        return data
    if hasattr(data, "numpy"):
        return np.asarray(data.numpy())
    return np.asarray(data)


def leaves(data: Any, prefix: str) -> list[tuple[str, Any]]:
    if data is None:
        return []
    if isinstance(data, dict):
        return [(str(key), value) for key, value in data.items()]
    if isinstance(data, (list, tuple)):
        if len(data) == 1:
            return [(prefix, data[0])]
        return [(f"{prefix}[{i}]", value) for i, value in enumerate(data)]
    return [(prefix, data)]


# -- what the model is ------------------------------------------------------------------------


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


# -- prediction spread ------------------------------------------------------------------------


@dataclass
class Spread:
    """How much one head's predictions vary across the probe samples.

    ``ratio`` is the predictions' standard deviation over the targets' (mean over
    output columns; for sequence outputs, over samples and time steps together).
    For classifiers it is the spread of log-probabilities across samples, in nats:
    one-hot targets have no natural scale to compare with, and a classifier that
    outputs the same distribution for every input has 0.
    """

    ratio: float
    pred_std: float
    target_std: float | None
    measure: str
    constant_target: bool = False
    target_mean: float | None = None


def spread(head: Head, pred: Any, target: Any) -> Spread | None:
    """None when the shapes cannot be compared."""
    p = np.asarray(pred, dtype=np.float64)
    if p.ndim == 0 or p.shape[0] < 2:
        return None
    cols = p.reshape(-1, p.shape[-1]) if p.ndim > 1 else p.reshape(-1, 1)
    if head.classification:
        return _class_spread(head, cols, target)
    if target is None:
        return None
    t = np.asarray(target, dtype=np.float64)
    if t.size != p.size:
        return None
    t = t.reshape(cols.shape)
    with np.errstate(all="ignore"):
        t_std = t.std(axis=0)
        t_mean = t.mean(axis=0)
        p_std = cols.std(axis=0)
    varying = t_std > 1e-8 + 1e-6 * np.abs(t_mean)
    if not varying.any():
        return Spread(
            math.nan,
            float(p_std.mean()),
            float(t_std.mean()),
            "std ratio",
            True,
            float(t_mean.mean()),
        )
    ratio = float(np.mean(p_std[varying] / t_std[varying]))
    return Spread(
        ratio,
        float(p_std[varying].mean()),
        float(t_std[varying].mean()),
        "std ratio",
        target_mean=float(t_mean[varying].mean()),
    )


def _class_spread(head: Head, cols: np.ndarray, target: Any) -> Spread:
    k = cols.shape[1]
    if head.from_logits:
        if k == 1 or head.binary:
            logp = np.concatenate([-np.logaddexp(0, -cols), -np.logaddexp(0, cols)], axis=1)
        else:
            logp = cols - _logsumexp(cols)
    else:
        clipped = np.clip(cols, 1e-7, 1 - 1e-7)
        if k == 1 or head.binary:
            logp = np.concatenate([np.log(clipped), np.log1p(-clipped)], axis=1)
        else:
            logp = np.log(clipped)
    with np.errstate(all="ignore"):
        value = float(logp.std(axis=0).mean())
    classes = _distinct_classes(target, k, head.binary) if target is not None else None
    return Spread(
        value,
        value,
        None,
        "log-probability spread (nats)",
        constant_target=classes is not None and classes <= 1,
    )


def _logsumexp(cols: np.ndarray) -> np.ndarray:
    top = cols.max(axis=1, keepdims=True)
    return top + np.log(np.exp(cols - top).sum(axis=1, keepdims=True))


def _distinct_classes(target: Any, k: int, binary: bool) -> int | None:
    t = np.asarray(target)
    if t.size == 0:
        return None
    if k > 1 and not binary and t.ndim >= 1 and t.shape[-1] == k and t.size > k:
        labels = t.reshape(-1, k).argmax(axis=1)
    else:
        labels = np.round(t.reshape(-1).astype(np.float64))
    return int(np.unique(labels).size)


# -- gradient norms ------------------------------------------------------------------------

_gradient_functions: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


#: Backends with a gradient probe.
GRADIENT_BACKENDS = ("tensorflow", "jax", "torch")


def gradients_unavailable(model: Any) -> str | None:
    """Why gradient probes cannot run on this model, or None when they can.

    A model that is not built yet (a subclassed model is built by fit's first step)
    has no weights to judge: ask again once it is.
    """
    import keras

    backend = keras.backend.backend()
    if backend not in GRADIENT_BACKENDS:
        return (
            f"gradient probes need the TensorFlow, JAX or torch backend (this run uses {backend})"
        )
    if getattr(model, "_compile_loss", None) is None:
        return "gradient probes need a model compiled with a loss"
    if getattr(model, "built", True) and not model.trainable_variables:
        return "the model has no trainable weights"
    return None


def gradient_norms(model: Any, batch: ProbeBatch) -> tuple[list[tuple[str, float]], float]:
    """Per-layer gradient norms of the compiled loss on the probe batch, in model
    order (top-level layers with trainable weights), and that loss.

    Inference mode (no dropout, BatchNormalization statistics untouched). The loss
    trackers ``compute_loss`` updates are restored afterwards, so the running means
    Keras reports are not disturbed. Under a ``tf.distribute`` strategy it runs on
    one replica (see :mod:`.distribute`): no collective, so workers never wait on it.
    On JAX and torch the same loss is differentiated with the backend's own autodiff.
    """
    import keras

    from kmon.engine.training.distribute import strategy_of

    backend = keras.backend.backend()
    if backend != "tensorflow":
        loss, norms = _backend_gradient_norms(backend, model, batch)
        return _layer_norms(model, norms), loss
    strategy = strategy_of(model)
    trackers = tracker_variables(model)
    # Rebuilt when the model's weights or metrics change (a recompiled model).
    key = (len(model.trainable_variables), tuple(id(v) for v in trackers))
    fn = _gradient_functions.get(model)
    if fn is None or fn[1] != key:
        fn = (_gradient_function(model, strategy, trackers), key)
        _gradient_functions[model] = fn
    if strategy is None:
        loss, norms = fn[0](batch.x, batch.y)  # restores the trackers itself
    else:
        saved = [v.numpy() for v in trackers]
        try:
            loss, norms = fn[0](batch.x, batch.y)
        finally:
            for variable, value in zip(trackers, saved):
                variable.assign(value)
    # Inside a replica Keras divides the loss by the replicas in sync: undo it.
    scale = float(strategy.num_replicas_in_sync) if strategy is not None else 1.0
    norms = np.asarray(norms, dtype=np.float64) * scale
    return _layer_norms(model, norms), float(loss) * scale


def _layer_norms(model: Any, norms: Any) -> list[tuple[str, float]]:
    """Per-variable norms (in ``trainable_variables`` order) folded per top-level layer."""
    per_variable = dict(zip((id(v) for v in model.trainable_variables), norms))
    result = []
    for layer in getattr(model, "layers", []) or []:
        weights = [per_variable[id(v)] for v in layer.trainable_weights if id(v) in per_variable]
        if weights:
            result.append((layer.name, float(math.sqrt(sum(w * w for w in weights)))))
    return result


def _backend_gradient_norms(backend: str, model: Any, batch: ProbeBatch) -> tuple[float, list]:
    """``(loss, per-variable norms)`` on JAX or torch, trackers left as they were."""
    if backend == "jax":
        sync = getattr(model, "jax_state_sync", None)
        if callable(sync):
            sync()  # JAX keeps the training state outside the variables until it syncs
        fn = _gradient_functions.get(model)
        if fn is None:
            fn = _gradient_functions[model] = _jax_gradient_function(model)
        loss, grads = fn(
            [v.value for v in model.trainable_variables],
            [v.value for v in model.non_trainable_variables],
            [v.value for v in model.metrics_variables],
            batch.x,
            batch.y,
        )
        return float(loss), [float(np.linalg.norm(np.asarray(g))) for g in grads]
    import torch

    trackers = tracker_variables(model)
    saved = [v.numpy() for v in trackers]
    params = [v.value for v in model.trainable_variables]
    try:
        with torch.enable_grad():
            y_pred = model(batch.x, training=False)
            loss = model.compute_loss(x=batch.x, y=batch.y, y_pred=y_pred, training=False)
            grads = torch.autograd.grad(loss, params, allow_unused=True)
    finally:
        for variable, value in zip(trackers, saved):
            variable.assign(value)
    norms = [float(g.detach().float().norm()) if g is not None else 0.0 for g in grads]
    return float(loss.detach()), norms


def _jax_gradient_function(model: Any):
    """A jitted ``(loss, gradients)`` of the compiled loss, stateless: the trackers
    ``compute_loss`` would update are inputs and outputs here, and dropped."""
    import jax

    def loss_of(trainable, non_trainable, metrics, x, y):
        y_pred, _ = model.stateless_call(trainable, non_trainable, x, training=False)
        loss, _ = model.stateless_compute_loss(
            trainable, non_trainable, metrics, x=x, y=y, y_pred=y_pred, training=False
        )
        return loss

    return jax.jit(jax.value_and_grad(loss_of))


def _gradient_function(model: Any, strategy: Any, trackers: list):
    """``(loss, per-variable norms)`` as a ``tf.function``. Without a strategy it
    also puts back the ``trackers`` that ``compute_loss`` updates, inside the graph:
    eager reads and assigns of a few tracker variables took as long as the gradients
    of a small model. Under a strategy the caller restores each replica's copy."""
    import tensorflow as tf

    def compute(x, y):
        with tf.GradientTape() as tape:
            y_pred = model(x, training=False)
            loss = model.compute_loss(x=x, y=y, y_pred=y_pred, training=False)
        grads = tape.gradient(loss, model.trainable_variables)
        norms = [
            tf.norm(tf.cast(g, tf.float32)) if g is not None else tf.constant(0.0) for g in grads
        ]
        return tf.cast(loss, tf.float32), tf.stack(norms)

    if strategy is None:

        @tf.function(reduce_retracing=True)
        def restoring(x, y):
            # Automatic control dependencies keep program order on each variable:
            # read, then compute_loss's updates, then the assign back.
            saved = [tf.identity(v.value) for v in trackers]
            result = compute(x, y)
            for variable, value in zip(trackers, saved):
                variable.assign(value)
            return result

        return restoring

    from kmon.engine.training.distribute import on_one_replica

    @tf.function(reduce_retracing=True)
    def distributed(x, y):
        return on_one_replica(strategy, compute, x, y)

    return distributed


def tracker_variables(model: Any) -> list:
    """The variables behind the model's metrics, one per replica under a strategy."""
    from kmon.engine.training.distribute import tracker_variables as variables

    return variables(model)


_predict_functions: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def predict(model: Any, batch: ProbeBatch) -> Any:
    """The model's predictions on the probe batch (inference mode)."""
    sync = getattr(model, "jax_state_sync", None)
    if callable(sync):
        # JAX keeps the training state outside the variables until it syncs.
        sync()
    from kmon.engine.training.distribute import strategy_of

    strategy = strategy_of(model)
    if strategy is None:
        return model.predict_on_batch(batch.x)
    # predict_on_batch under a MirroredStrategy returns each row once per replica:
    # run the model on one replica instead (no collective, see .distribute).
    fn = _predict_functions.get(model)
    if fn is None:
        import tensorflow as tf

        from kmon.engine.training.distribute import on_one_replica

        @tf.function(reduce_retracing=True)
        def fn(x):
            return on_one_replica(strategy, lambda v: model(v, training=False), x)

        _predict_functions[model] = fn
    return _to_numpy(fn(batch.x))


# -- the time budget --------------------------------------------------------------------------

_budgets: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def keep_budget(model: Any, kind: str, budget: ProbeBudget) -> None:
    """Remember where ``model``'s budget for ``kind`` stands, for its next fit: a
    script that calls fit() many times (one epoch each, say) probes as often as one
    long fit would."""
    _budgets.setdefault(model, {})[kind] = (budget.estimate, budget.credit)


def resume_budget(model: Any, kind: str, budget: ProbeBudget) -> None:
    """Continue from an earlier fit of ``model``: its credit, and its cost estimate
    (the probe is compiled already, so every call is charged)."""
    kept = _budgets.get(model, {}).get(kind)
    if kept is None:
        return
    estimate, credit = kept
    budget.credit = credit
    if estimate is not None:
        budget.estimate, budget.warm = estimate, True


@dataclass
class ProbeBudget:
    """Decides when a probe may run so that it takes ``share`` of training time.

    Every step adds ``share`` times the training time since the last step (probe
    time excluded) to a credit; a probe is due once the credit covers its expected
    cost, and its measured cost is then taken off. The first call is not charged:
    it compiles once (``tf.function`` tracing) and never costs that again; its cost
    is kept in ``one_time``. A ``warm`` budget (the probe ran in an earlier fit of
    the same model) starts from that fit's ``estimate`` and charges every call. With
    ``every`` set, a probe is due every that many steps.
    """

    share: float
    first_cost: float = 0.0
    every: int | None = None
    interval: float = 0.0
    """Seconds of training at least between two calls (when not ``every``)."""
    credit: float = 0.0
    estimate: float | None = None
    warm: bool = False
    """The probe already ran in an earlier fit of the model: charge every call."""
    calls: int = 0
    charged: float = 0.0
    """Seconds taken off the credit: calls after the first, and :attr:`after`."""
    after: float = 0.0
    """Seconds charged for the steps after calls (see :meth:`charge`)."""
    one_time: float = 0.0
    steps: int = 0
    _since: int = field(default=0, repr=False)
    _waited: float = field(default=0.0, repr=False)

    def tick(self, seconds: float) -> None:
        """One training step took ``seconds`` (probe time excluded)."""
        self.credit += self.share * seconds
        self.steps += 1
        self._since += 1
        self._waited += seconds

    @property
    def due(self) -> bool:
        if self.every is not None:
            return self.calls == 0 or self._since >= self.every
        if self.calls and self._waited < self.interval:
            return False
        cost = self.estimate if self.estimate is not None else self.first_cost
        return self.credit >= cost

    def charge(self, seconds: float) -> None:
        """Time the probe cost outside its call: the steps after it ran slower
        (see :class:`ProbeAftermath`); negative when they ran faster."""
        self.credit -= seconds
        self.charged += seconds
        self.after += seconds

    def spent(self, seconds: float) -> None:
        """A probe ran and took ``seconds``."""
        self.calls += 1
        self._since = 0
        self._waited = 0.0
        if self.calls == 1 and not self.warm:
            self.one_time += seconds
            return
        self.credit -= seconds
        self.charged += seconds
        self.estimate = seconds if self.estimate is None else 0.7 * self.estimate + 0.3 * seconds


@dataclass
class ProbeAftermath:
    """Charges each probe for the steps after it, not only for the call itself.

    A probe runs other functions between two training steps, and the next steps
    then run slower while caches and TensorFlow's threads warm up to the training
    step again: on a 2 ms/step MLP the steps after a prediction probe took about
    1 ms more in all, half again its 2 ms call, and after a gradient probe about
    1.4 ms more. Unaccounted, that made probes within their budget cost more than
    their share. Each step's time is compared with a typical step (a moving
    average of the steps that follow no probe) and the difference, over
    :attr:`steps` steps, is charged to the budgets of the probes that ran: on each
    machine the budget then holds the probes to their share as a whole.

    The first steps of a fit run slower than later ones (for tens of steps), so
    nothing is charged until :attr:`warm_steps` steps that follow no probe have
    set the typical step; a gap of more than three typical steps (an epoch's end,
    validation) is no step at all and is left out.

    Args:
        steps: how many steps after a probe are charged to it.
        warm_steps: steps that follow no probe before anything is charged.
    """

    steps: int = 8
    warm_steps: int = 16
    typical: float | None = None
    """Seconds of a step that follows no probe (moving average)."""
    _seen: int = field(default=0, repr=False)
    _left: int = field(default=0, repr=False)
    _budgets: tuple[ProbeBudget, ...] = field(default=(), repr=False)

    def probed(self, budgets: tuple[ProbeBudget, ...]) -> None:
        """These budgets' probes just ran: charge them the next steps' excess."""
        self._budgets = budgets
        self._left = self.steps

    def step(self, seconds: float) -> None:
        """A step (and the hooks around it) took ``seconds``, probe calls excluded."""
        typical = self.typical
        if typical is None or 3 * seconds < typical:
            # A fit's first step traces the train function: start over from a real one.
            self.typical, self._seen = seconds, 1
            return
        if seconds > 3 * typical:
            return
        if self._left:
            self._left -= 1
            if self._seen >= self.warm_steps:
                share = (seconds - typical) / len(self._budgets)
                for budget in self._budgets:
                    budget.charge(share)
            return
        self._seen += 1
        self.typical = typical + max(1 / self._seen, 0.1) * (seconds - typical)
