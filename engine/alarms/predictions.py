"""Prediction probes: the model's predictions on the probe batch, in inference mode,
on one replica under a ``tf.distribute`` strategy."""

from __future__ import annotations

import weakref
from typing import Any

from kmon.engine.alarms.probe_batch import ProbeBatch, to_numpy
from kmon.engine.training.distribute import on_one_replica, strategy_of

#: The compiled one-replica predict function of each model trained under a strategy.
_predict_functions: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def predict(model: Any, batch: ProbeBatch) -> Any:
    """The model's predictions on the probe batch (inference mode)."""
    sync = getattr(model, "jax_state_sync", None)
    if callable(sync):
        # JAX keeps the training state outside the variables until it syncs.
        sync()
    strategy = strategy_of(model)
    if strategy is None:
        return model.predict_on_batch(batch.x)
    # predict_on_batch under a MirroredStrategy returns each row once per replica:
    # run the model on one replica instead (no collective, see .distribute).
    fn = _predict_functions.get(model)
    if fn is None:
        import tensorflow as tf

        @tf.function(reduce_retracing=True)
        def fn(x):
            return on_one_replica(strategy, lambda v: model(v, training=False), x)

        _predict_functions[model] = fn
    return to_numpy(fn(batch.x))

