"""Beyond one device: tf.distribute strategies, Keras 3's JAX and torch backends,
and legacy tf.keras, each run for real under `kmon train` in a subprocess.

Logical devices must be configured before TensorFlow initializes its devices, the
backend is chosen when Keras is imported, and a multi-worker cluster needs one
process per worker: hence subprocesses (about 5 s of TensorFlow start-up each). The
training scripts are in tests/data/distribute/ and write what the tests compare the
event logs with (true per-batch losses from a one-device twin, gradients worked out
by hand) to a JSON file.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from kmon_process import kmon_command
from locations import DATA

from kmon.engine.log.eventlog import read_events
from kmon.engine.run.fit_hook import LEGACY_KERAS_MESSAGE

DATA = DATA / "distribute"
RTOL = 1e-4
HEADS = {
    "a": {
        "loss": "binary_crossentropy",
        "weight": 1.0,
        "metrics": ["a_accuracy"],
        "loss_key": "a_loss",
        "task": "classification",
        "binary": True,
        "from_logits": False,
    },
    "b": {
        "loss": "mse",
        "weight": 0.5,
        "metrics": [],
        "loss_key": "b_loss",
        "task": "regression",
        "binary": False,
        "from_logits": False,
    },
}


@dataclass
class Run:
    returncode: int
    output: str
    events: list
    result: dict

    def of(self, kind, fit=None):
        return [
            e
            for e in self.events
            if e.type == kind and (fit is None or getattr(e, "fit", None) == fit)
        ]


def kmon_train(tmp: Path, script: str, env: dict | None = None, timeout: int = 240) -> Run:
    log, result = tmp / "run.jsonl", tmp / "result.json"
    proc = subprocess.run(
        [
            *kmon_command(),
            "train",
            "--headless",
            "--log",
            str(log),
            str(DATA / script),
            str(result),
        ],
        cwd=tmp,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    events = read_events(log)[0] if log.exists() else []
    loaded = json.loads(result.read_text()) if result.exists() else {}
    return Run(proc.returncode, proc.stdout + proc.stderr, events, loaded)


def assert_recovered(run: Run, fit: int, truth: list[dict], keys) -> None:
    batches = run.of("batch", fit)
    assert [e.size for e in batches] == [32, 32, 32, 4] * 2
    for event, expected in zip(batches, truth, strict=True):
        for key in keys:
            assert event.values[key] == pytest.approx(expected[key], rel=RTOL, abs=1e-6), key


# -- MirroredStrategy ------------------------------------------------------------------


@pytest.fixture(scope="module")
def mirrored(tmp_path_factory):
    return kmon_train(tmp_path_factory.mktemp("mirrored"), "mirrored_train.py")


def test_mirrored_strategy_recovers_each_global_batch_and_the_head_map(mirrored):
    assert mirrored.returncode == 0, mirrored.output[-3000:]
    assert mirrored.result["replicas"] == 2
    # Per-batch values from the mean over replicas of their running means, with the
    # global batch sizes: the same losses a one-device twin computes batch by batch.
    assert_recovered(
        mirrored, 0, mirrored.result["truth"], ("loss", "a_loss", "b_loss", "a_accuracy")
    )
    (kinds,) = mirrored.of("value_kinds", 0)
    # Read from each replica's own tracker counts (no collective): as on one device,
    # the heads' losses count steps and the total counts samples.
    assert kinds.kinds == {
        "loss": "mean",
        "a_accuracy": "mean",
        "a_loss": "step_mean",
        "b_loss": "step_mean",
    }
    assert kinds.heads is None
    (start,) = mirrored.of("fit_start", 0)
    assert start.heads == HEADS and start.batch_size == 32 and start.samples == 100


def test_mirrored_strategy_probes_run_on_one_replica_without_changing_training(mirrored):
    result = mirrored.result
    # Probes at every step (fit 0) against none (fit 1): History and every batch's
    # logs are identical.
    assert result["history"] == result["plain_history"]
    assert [e.logs for e in mirrored.of("batch", 0)] == [e.logs for e in mirrored.of("batch", 1)]
    # Gradient norms and loss on the probe batch equal the one-device twin's (Keras
    # divides a replica's loss by the replicas in sync; kmon multiplies it back).
    (norms, loss), (twin_norms, twin_loss) = result["gradients"], result["twin_gradients"]
    assert dict(norms) == pytest.approx(dict(twin_norms), rel=1e-5)
    assert loss == pytest.approx(twin_loss, rel=1e-5)
    # predict_on_batch under the strategy returns each row twice; the probe does not.
    assert result["prediction_rows"] == {"a": 64, "b": 64}
    assert not [e for e in mirrored.events if e.type == "notice" and "probe" in e.text]


def test_mirrored_strategy_collapse_raises_the_prediction_alarm(mirrored):
    (collapse,) = [
        e
        for e in mirrored.of("alarm", 2)
        if e.kind == "prediction_variance" and e.state == "raised"
    ]
    assert collapse.subject == "forecast"
    assert collapse.evidence["probe_samples"] == 256
    assert collapse.evidence["ratio"] < 0.05 and collapse.evidence["target_std"] > 100
    assert mirrored.of("run_end")[0].status == "ok"


# -- MultiWorkerMirroredStrategy -----------------------------------------------------------


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def two_workers(tmp: Path, kmon_worker: int) -> tuple[list[subprocess.CompletedProcess], Path]:
    """Worker ``kmon_worker`` under ``kmon train`` (default log in tmp/runs), the
    other plain ``python``; both on loopback."""
    cluster = {"worker": [f"127.0.0.1:{port}" for port in free_ports(2)]}
    procs = []
    for index in (1, 0):  # worker 0 last: it reaches the first collective last
        env = {
            **os.environ,
            "TF_CONFIG": json.dumps(
                {"cluster": cluster, "task": {"type": "worker", "index": index}}
            ),
        }
        script = [str(DATA / "multi_worker_train.py"), f"w{index}"]
        if index == kmon_worker:
            command = [
                *kmon_command(),
                "train",
                "--headless",
                "--runs-dir",
                str(tmp / "runs"),
                *script,
            ]
        else:
            command = [sys.executable, *script]
        procs.append(
            subprocess.Popen(
                command,
                cwd=tmp,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        )
    finished = []
    for proc in procs:
        try:
            out, _ = proc.communicate(timeout=150)
        except subprocess.TimeoutExpired:
            for other in procs:
                other.kill()
            pytest.fail("a worker hung: kmon must never make the other workers wait")
        finished.append(subprocess.CompletedProcess(proc.args, proc.returncode, out))
    return finished, tmp / "runs"


def worker_report(output: str) -> dict:
    (line,) = [line for line in output.splitlines() if line.startswith("worker done")]
    return json.loads(line.split(" ", 3)[3])


@pytest.mark.parametrize("kmon_worker", [0, 1], ids=["chief-under-kmon", "worker-under-kmon"])
def test_multi_worker_kmon_on_one_worker_never_blocks_the_others(tmp_path, kmon_worker):
    finished, runs = two_workers(tmp_path, kmon_worker)
    for proc in finished:
        assert proc.returncode == 0, proc.stdout[-3000:]
    reports = [worker_report(proc.stdout) for proc in finished]
    # Both workers trained the same model in lockstep, and the one under kmon probed
    # it at every step (predictions and gradients) with no collective of its own.
    assert reports[0]["loss"] == reports[1]["loss"]
    kmon_report = reports[0] if kmon_worker == 1 else reports[1]
    assert kmon_report["probes"] == {"predictions": True, "gradients": True}
    (log,) = runs.glob("*.jsonl")
    # Workers may share a folder: the task is in the name, before the random part.
    assert re.fullmatch(rf".*-worker{kmon_worker}-[0-9a-f]{{6}}\.jsonl", log.name), log.name
    events, _ = read_events(log)
    start = events[0]
    assert start.type == "run_start" and start.task == f"worker{kmon_worker}"
    batches = [e for e in events if e.type == "batch"]
    assert [e.size for e in batches] == [32] * 8  # global batches
    assert all(e.values["loss"] > 0 for e in batches)
    (kinds,) = [e for e in events if e.type == "value_kinds"]
    assert kinds.kinds["loss"] == "mean" and kinds.kinds["b_loss"] == "step_mean"
    assert [e for e in events if e.type == "run_end"][0].status == "ok"


# -- Keras 3 backends: JAX and torch ---------------------------------------------------------


def require(module: str, what: str) -> None:
    """Skip the test when ``module`` is not installed, but fail it under CI (``CI``
    set), where ``pip install -e ".[test]"`` installs it: a broken install of the
    test extra must not pass as a skip."""
    if importlib.util.find_spec(module) is None:
        why = f"{what} is not installed ({module}): not checked here"
        if os.environ.get("CI"):
            pytest.fail(f"{why}, under CI, where the test extra installs it")
        pytest.skip(why)


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_keras_backend_events_recovery_heads_and_probes(tmp_path, backend):
    require(backend, f"the {backend} backend")
    run = kmon_train(tmp_path, "backend_train.py", env={"KERAS_BACKEND": backend})
    assert run.returncode == 0, run.output[-3000:]
    result = run.result
    assert result["backend"] == backend
    assert_recovered(run, 0, result["truth"], ("loss", "a_loss", "b_loss", "a_accuracy"))
    (kinds,) = run.of("value_kinds", 0)
    # Unlike TensorFlow's traced step, JAX and torch weight each head's loss by
    # samples, like the total: History's head losses are sample means.
    assert kinds.kinds == {"loss": "mean", "a_accuracy": "mean", "a_loss": "mean", "b_loss": "mean"}
    (start,) = run.of("fit_start", 0)
    assert start.heads == HEADS
    # kmon's callbacks are async_safe and probe in on_train_batch_begin: Keras still
    # dispatches batch-end hooks on its thread pool, away from the training thread.
    assert result["begin_threads"] == 1 and result["end_threads_elsewhere"] >= 1
    # ... in any order; the log has them in step order all the same.
    steps = [(e.fit, e.epoch, e.step) for e in run.events if e.type == "batch"]
    assert steps == sorted(steps) and len(set(steps)) == len(steps)
    # The gradient probe differentiates with the backend's own autodiff.
    gradient = result["gradient"]
    assert gradient["probe"]["linear"] == pytest.approx(gradient["by_hand"], rel=1e-4)
    assert gradient["loss"] == pytest.approx(result["loss_by_hand"], rel=1e-4)
    raised = {e.kind for e in run.of("alarm", 2) if e.state == "raised"}
    assert {"prediction_variance", "vanishing_gradients"} <= raised
    assert not [e for e in run.events if e.type == "notice" and "gradient probes" in e.text]


# -- legacy tf.keras ---------------------------------------------------------------------------


def test_legacy_tf_keras_is_refused_with_one_line(tmp_path):
    require("tf_keras", "legacy Keras (tf-keras)")
    run = kmon_train(tmp_path, "legacy_train.py", env={"TF_USE_LEGACY_KERAS": "1"})
    assert run.returncode == 2
    assert LEGACY_KERAS_MESSAGE in run.output.splitlines()
    assert "Traceback" not in run.output
    assert "legacy tf.keras in use: tf_keras" in run.output  # the script did start
    end = run.of("run_end")[0]
    assert (end.status, end.exit_code, end.error["message"]) == ("failed", 2, LEGACY_KERAS_MESSAGE)
    assert not run.of("fit_start")
