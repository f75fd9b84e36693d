"""What kmon needs to know about ``tf.distribute`` and the cluster a run is part of.

Facts this relies on, checked on Keras 3.15 / TensorFlow 2.21 (``tests/e2e/test_distribute.py``):

- Under a ``tf.distribute`` strategy, Keras's metric variables (the loss trackers'
  ``total`` and ``count`` included) are ``SyncOnRead`` variables with SUM
  aggregation: one copy per replica. Reading one in cross-replica context sums the
  copies, which under ``MultiWorkerMirroredStrategy`` is a collective across the
  workers: it would wait forever for workers that do not read it at the same time.
  kmon only ever sums the copies of its own process (:func:`local_sum`).
- The logs Keras passes to callbacks are the mean over replicas of each replica's
  running mean. The global batch is split evenly across replicas, so that is the
  running mean over the global batches (a last, partial batch split unevenly
  is off by a hair), and kmon recovers per-batch values with global batch sizes.
- ``model.predict_on_batch`` under a ``MirroredStrategy`` with two replicas returns
  every row twice (each replica predicts the whole batch and the results are
  concatenated), so probes run the model on one replica themselves
  (:func:`on_one_replica`), without any collective.
- Inside a replica, Keras divides every loss by the number of replicas in sync
  (``scale_loss_for_distribution``): the gradient probe multiplies it back.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any


def strategy_of(model: Any) -> Any | None:
    """The ``tf.distribute`` strategy ``model`` was built under, or None for the
    default (one device), and always None on other backends."""
    strategy = getattr(model, "_distribute_strategy", None)
    if strategy is None:
        return None
    import keras

    if keras.backend.backend() != "tensorflow":
        return None
    return strategy


def is_multi_worker(strategy: Any) -> bool:
    """A strategy whose replicas span several processes (collectives across workers)."""
    if strategy is None:
        return False
    extended = getattr(strategy, "extended", None)
    in_multi_worker = getattr(extended, "_in_multi_worker_mode", None)
    try:
        return bool(in_multi_worker()) if callable(in_multi_worker) else False
    except Exception:  # noqa: BLE001 - a private TF API: assume one worker if it changed
        return False


def local_sum(variable: Any) -> float:
    """A (metric) variable's value summed over this process's replicas only.

    Without a strategy that is its value. Never a collective: under
    ``MultiWorkerMirroredStrategy`` other workers' copies are not read.
    """
    value = getattr(variable, "value", variable)
    parts = _local_components(value)
    if parts is not None:
        return float(sum(float(part.numpy()) for part in parts))
    import keras

    return float(keras.ops.convert_to_numpy(value))


def loss_tracker_count(model: Any) -> float | None:
    """Samples the model's loss tracker counted this epoch, summed over this
    process's replicas; None where there is no tracker or it cannot be read.

    The one device read kmon adds per batch, and only for inputs whose batch sizes
    cannot be known otherwise. Across several workers the sum is only this worker's
    share: callers leave sizes unknown there.
    """
    tracker = getattr(model, "_loss_tracker", None)
    if tracker is None:
        return None
    try:
        return local_sum(tracker.count)
    except (AttributeError, TypeError, ValueError):
        return None


def local_replicas(variable: Any) -> int:
    """How many copies of a (metric) variable this process holds: one per local
    replica under a ``tf.distribute`` strategy, else 1."""
    parts = _local_components(getattr(variable, "value", variable))
    return len(parts) if parts else 1


def _local_components(value: Any) -> list | None:
    """The per-replica copies of a ``tf.distribute`` variable, else None."""
    if type(value).__module__.split(".")[0] != "tensorflow":
        return None
    import tensorflow as tf

    if isinstance(value, tf.distribute.DistributedValues):
        return list(value.values)
    return None


def tracker_variables(model: Any) -> list:
    """Every plain variable behind the model's metrics: each replica's copy of a
    distributed one, so that saving and restoring them never mixes replicas."""
    found = []
    for metric in getattr(model, "metrics", []) or []:
        for variable in metric.variables:
            value = getattr(variable, "value", variable)
            parts = _local_components(value)
            found.extend(parts if parts is not None else [variable])
    return found


def on_one_replica(strategy: Any, fn, *args):
    """Inside a ``tf.function``: run ``fn(*args)`` in replica context and return the
    first local replica's result (every replica gets the same, whole inputs)."""
    import tensorflow as tf

    outputs = strategy.run(fn, args=args)
    return tf.nest.map_structure(lambda v: strategy.experimental_local_results(v)[0], outputs)


# -- the cluster, from TF_CONFIG ---------------------------------------------------------


@dataclass(frozen=True)
class ClusterTask:
    """This process's place in a ``tf.distribute`` cluster (read from ``TF_CONFIG``).

    Attributes:
        type: ``"chief"``, ``"worker"``, ``"ps"``, ``"evaluator"``...
        index: the task's index among its type.
        workers: tasks that train (chief and workers).
        has_chief: the cluster names a ``chief`` task.
    """

    type: str
    index: int
    workers: int
    has_chief: bool = False

    @property
    def is_chief(self) -> bool:
        """The chief streams to a monitor: the ``chief`` task, or worker 0 when the
        cluster has no chief (TensorFlow's own rule)."""
        return self.type == "chief" or (
            self.type == "worker" and self.index == 0 and not self.has_chief
        )

    @property
    def label(self) -> str:
        """``worker1``: for file names and messages."""
        return f"{self.type}{self.index}"


def cluster_task(environ: dict[str, str] | None = None) -> ClusterTask | None:
    """This process's task when ``TF_CONFIG`` describes a cluster of several
    tasks, else None (a malformed ``TF_CONFIG`` counts as none: TensorFlow will say)."""
    raw = (os.environ if environ is None else environ).get("TF_CONFIG")
    if not raw:
        return None
    try:
        config = json.loads(raw)
        cluster = config.get("cluster") or {}
        task = config.get("task") or {}
        kind = str(task["type"])
        index = int(task.get("index", 0))
    except (ValueError, TypeError, KeyError, AttributeError):
        return None
    workers = sum(len(cluster.get(name) or []) for name in ("chief", "worker"))
    total = sum(len(v or []) for v in cluster.values() if isinstance(v, list))
    if total <= 1:
        return None
    return ClusterTask(kind, index, workers, has_chief=bool(cluster.get("chief")))
