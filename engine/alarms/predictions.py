"""Prediction probes: the model's predictions on the probe batch, in inference mode,
on one replica under a ``tf.distribute`` strategy."""

from __future__ import annotations

import weakref
from typing import Any

from kmon.engine.alarms.probe_batch import ProbeBatch, to_numpy
from kmon.engine.training.distribute import on_one_replica, strategy_of

#: The compiled one-replica predict function of each model trained under a strategy.
_predict_functions: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def predict(model: Any, batch: ProbeBatch, run: Any = None) -> Any:
    """The model's predictions on the probe batch (inference mode).

    Args:
        model: the model being trained.
        batch: the probe batch.
        run: another ``keras.Model`` over the same layers to run instead, which
            returns more than the predictions (:mod:`.units`' view).
    """
    target = model if run is None else run
    sync = getattr(model, "jax_state_sync", None)
    if callable(sync):
        # JAX keeps the training state outside the variables until it syncs.
        sync()
    strategy = strategy_of(model)
    x = batch.fed()[0]
    if strategy is None:
        return target.predict_on_batch(x)
    # predict_on_batch under a MirroredStrategy returns each row once per replica:
    # run the model on one replica instead (no collective, see .distribute).
    fn = _predict_functions.get(target)
    if fn is None:
        import tensorflow as tf

        @tf.function(reduce_retracing=True)
        def fn(x):
            return on_one_replica(strategy, lambda v: target(v, training=False), x)

        _predict_functions[target] = fn
    return to_numpy(fn(x))
