"""`kmon train` samples the process and the machine (``system`` events) and logs the
learning rate: a real run, its log read back."""

from __future__ import annotations

import pytest
from kmon_process import run_kmon

from kmon.engine.log.eventlog import read_events

pytestmark = pytest.mark.e2e

SCRIPT = """\
import time

import keras
import numpy as np


class Slow(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        time.sleep(0.4)  # a run long enough for several samples


keras.utils.set_random_seed(0)
x = np.random.default_rng(0).normal(size=(64, 4)).astype("float32")
y = x.sum(axis=1, keepdims=True)
model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
plateau = keras.callbacks.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=1, min_delta=1e9)
model.fit(x, y, batch_size=16, epochs=5, verbose=0, callbacks=[Slow(), plateau])
"""


@pytest.fixture(scope="module")
def run_log(tmp_path_factory):
    folder = tmp_path_factory.mktemp("system")
    (folder / "train.py").write_text(SCRIPT)
    log = folder / "run.jsonl"
    result = run_kmon(
        "train",
        "--headless",
        "--log",
        str(log),
        "--system-interval",
        "0.25",
        "train.py",
        cwd=folder,
    )
    assert result.returncode == 0, result.stderr
    events, report = read_events(log)
    assert report.skipped == 0
    return events


def test_the_log_holds_plausible_system_samples(run_log):
    samples = [event for event in run_log if event.type == "system"]
    assert len(samples) >= 4
    assert run_log[-1].type == "run_end"  # every sample before it
    for sample in samples:
        assert sample.interval == 0.25
        assert 0 < sample.rss < sample.memory_total
        assert 0 < sample.memory_used < sample.memory_total
        assert sample.cpus and len(sample.load) == 3
        assert sample.gpus or sample.gpu_note.startswith("no GPU")
    assert max(sample.process_cpu for sample in samples) > 0
    # The process has TensorFlow and a model by the end: 100s of MB. (Whether the
    # first sample comes before TensorFlow's import is a race on a loaded machine.)
    assert samples[-1].rss > 100 * 1024**2
    times = [sample.t for sample in samples]
    assert times == sorted(times)


def test_the_learning_rate_steps_down_with_reduce_lr_on_plateau(run_log):
    rates = [event.learning_rate for event in run_log if event.type == "epoch_end"]
    assert rates == pytest.approx([0.01, 0.005, 0.0025, 0.00125, 0.000625])
    [first] = [event for event in run_log if event.type == "learning_rate"]
    assert first.value == pytest.approx(0.01) and first.fit == 0


def test_a_negative_interval_is_one_line_and_an_error(tmp_path):
    (tmp_path / "train.py").write_text("print('never')\n")
    result = run_kmon("train", "--headless", "--system-interval", "-1", "train.py", cwd=tmp_path)
    assert result.returncode != 0
    assert result.stderr.strip().count("\n") == 0
    assert "--system-interval" in result.stderr
