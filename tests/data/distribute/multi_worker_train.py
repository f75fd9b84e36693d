"""Trains under tf.distribute.MultiWorkerMirroredStrategy; TF_CONFIG says which
worker this process is. Run by tests/e2e/test_distribute.py: one worker under
`kmon train`, the other plain `python`. Probes run at every step on purpose: had
kmon issued a collective of its own, the plain worker would never join it and both
would hang.

Keras 3.15's fit() does not run under MultiWorkerMirroredStrategy as released: two
workarounds below, marked, make it train; they are about Keras, not kmon.
"""

import json
import sys

import keras
import tensorflow as tf
from keras.src.backend.tensorflow import trainer as tf_trainer
from two_heads import build, data

from kmon.engine import probes
from kmon.engine.alarms import (  # the compiled probe functions, by model
    gradients,
    predictions,
    units,
)

strategy = tf.distribute.MultiWorkerMirroredStrategy()
_reduce_per_replica = tf_trainer.reduce_per_replica


def reduce_per_replica(values, strategy, reduction):
    # Workaround 1: Keras reduces scalar metrics across workers with axis=0, which
    # fails; reduce them over replicas only.
    if reduction in ("auto", "mean") and tf_trainer._collective_all_reduce_multi_worker(strategy):
        return tf.nest.map_structure(lambda v: strategy.reduce("MEAN", v, axis=None), values)
    return _reduce_per_replica(values, strategy, reduction)


tf_trainer.reduce_per_replica = reduce_per_replica
x, y = data(128)
keras.utils.set_random_seed(1)
with strategy.scope():
    model = build()
    # Workaround 2: fit() reduces the first distributed batch eagerly to build the
    # compiled loss and metrics, which fails; build them here from plain arrays.
    model._symbolic_build(data_batch=(x[:2], {k: v[:2] for k, v in y.items()}))
model._maybe_symbolic_build = lambda *args, **kwargs: None

probes.set_probe_config(every=1, gradient_every=1)
history = model.fit(x, y, batch_size=32, epochs=2, shuffle=False, verbose=0)
ran = {
    # The prediction probe runs through the model itself, or through its view with
    # the ReLU layers' outputs when it has any (alarms/units.py).
    "predictions": model in predictions._predict_functions or model in units._views,
    "gradients": model in gradients._gradient_functions,
}
print(
    "worker done",
    sys.argv[1],
    json.dumps({"loss": history.history["loss"], "probes": ran}),
    flush=True,
)
