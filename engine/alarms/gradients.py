"""Gradient probes: per-layer gradient norms of the compiled loss on the probe batch,
with the backend's own autodiff (``tf.GradientTape``, ``jax.value_and_grad``,
``torch.autograd``), without disturbing what training computes."""

from __future__ import annotations

import math
import weakref
from typing import Any

import numpy as np

from kmon.engine.alarms.probe_batch import ProbeBatch
from kmon.engine.training.distribute import on_one_replica, strategy_of, tracker_variables

#: The compiled gradient function of each model probed (with the key it was built for
#: on TensorFlow).
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
    one replica (see :mod:`kmon.engine.training.distribute`): no collective, so workers never wait on it.
    On JAX and torch the same loss is differentiated with the backend's own autodiff.
    """
    import keras

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
    x, y = batch.fed()
    if strategy is None:
        loss, norms = fn[0](x, y)  # restores the trackers itself
    else:
        saved = [v.numpy() for v in trackers]
        try:
            loss, norms = fn[0](x, y)
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

    @tf.function(reduce_retracing=True)
    def distributed(x, y):
        return on_one_replica(strategy, compute, x, y)

    return distributed
