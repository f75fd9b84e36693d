"""What kmon reads from the environment about where it trains: the task of a
``tf.distribute`` cluster in ``TF_CONFIG``, and ``TF_USE_LEGACY_KERAS`` (the runs
themselves are in tests/e2e/test_distribute.py)."""

from __future__ import annotations

import json

from kmon.engine.run.fit_hook import legacy_keras_requested
from kmon.engine.training.distribute import cluster_task


def test_cluster_task_from_tf_config():
    def task(config):
        return cluster_task({"TF_CONFIG": json.dumps(config)})

    workers = {"worker": ["h1:1", "h2:1", "h3:1"]}
    assert task({"cluster": workers, "task": {"type": "worker", "index": 0}}).is_chief
    second = task({"cluster": workers, "task": {"type": "worker", "index": 2}})
    assert (second.label, second.workers, second.is_chief) == ("worker2", 3, False)
    with_chief = {"chief": ["h0:1"], **workers}
    assert task({"cluster": with_chief, "task": {"type": "chief", "index": 0}}).is_chief
    assert not task({"cluster": with_chief, "task": {"type": "worker", "index": 0}}).is_chief
    # One task, no TF_CONFIG, or a malformed one: not a cluster.
    assert task({"cluster": {"worker": ["h1:1"]}, "task": {"type": "worker", "index": 0}}) is None
    assert cluster_task({}) is None
    assert cluster_task({"TF_CONFIG": "{not json"}) is None


def test_legacy_keras_is_what_tensorflow_reads_from_the_variable():
    assert legacy_keras_requested({"TF_USE_LEGACY_KERAS": "1"})
    assert legacy_keras_requested({"TF_USE_LEGACY_KERAS": "true"})
    assert not legacy_keras_requested({"TF_USE_LEGACY_KERAS": "0"})
    assert not legacy_keras_requested({})
