"""The GPU panel on a real NVIDIA GPU: `kmon train` live on a pty while a model
trains on the GPU, the System tab read back through pyte, and the run's log.

Skipped where NVML finds no GPU (CI's machines); run on a lent GPU machine by
``benchmarks/device/run.sh``. ``KMON_GPU_SCREEN`` names a file to keep the System
tab's screen in, for the docs.
"""

from __future__ import annotations

import os
import time

import pynvml
import pytest
from pty_helpers import Terminal

from kmon.engine.log.eventlog import read_events

pytestmark = pytest.mark.e2e

# Written as a user would: nothing in it knows about kmon. It says which device
# the backend trained on, so the test can tell a GPU run from a CPU build's.
SCRIPT = """\
import json
import time

import keras
import numpy as np


def on_gpu():
    backend = keras.backend.backend()
    if backend == "torch":
        import torch
        return torch.cuda.is_available()
    if backend == "jax":
        import jax
        return jax.devices()[0].platform == "gpu"
    import tensorflow as tf
    return bool(tf.config.list_physical_devices("GPU"))


class Slow(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        time.sleep(0.3)  # several system samples per epoch


rng = np.random.default_rng(0)
x = rng.normal(size=(8192, 256)).astype("float32")
y = (x[:, :8].sum(axis=1) > 0).astype("int32")
model = keras.Sequential([
    keras.Input((256,)),
    keras.layers.Dense(1024, activation="relu"),
    keras.layers.Dense(1024, activation="relu"),
    keras.layers.Dense(2, activation="softmax"),
])
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
with open("device.json", "w") as handle:
    json.dump({"backend": keras.backend.backend(), "gpu": on_gpu()}, handle)
model.fit(x, y, batch_size=64, epochs=12, verbose=0, callbacks=[Slow()])
print("trained")
"""


def _gpu_names() -> list[str]:
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError:
        return []
    try:
        names = []
        for index in range(pynvml.nvmlDeviceGetCount()):
            name = pynvml.nvmlDeviceGetName(pynvml.nvmlDeviceGetHandleByIndex(index))
            names.append(name.decode() if isinstance(name, bytes) else name)
        return names
    finally:
        pynvml.nvmlShutdown()


GPUS = _gpu_names()


@pytest.mark.skipif(not GPUS, reason="no NVIDIA GPU on this machine (NVML finds none)")
def test_the_system_tab_shows_the_gpu_while_a_model_trains_on_it(tmp_path):
    (tmp_path / "train.py").write_text(SCRIPT)
    log = tmp_path / "run.jsonl"
    args = ["train", "--log", str(log), "--system-interval", "0.5", "train.py"]
    terminal = Terminal(args, cwd=tmp_path, rows=40, cols=120)
    terminal.wait_for(lambda text: "training" in text, 240, "the live run")
    terminal.child.send("y")
    screen = terminal.wait_for(
        lambda text: f"GPU0 {GPUS[0]}" in text and "processes:" in text, 60, "the GPU panel"
    )
    time.sleep(2)  # a few more samples: the process has its GPU memory by now
    terminal.pump(1.0)
    screen = terminal.text
    if os.environ.get("KMON_GPU_SCREEN"):
        with open(os.environ["KMON_GPU_SCREEN"], "w", encoding="utf-8") as handle:
            handle.write(screen + "\n")
    assert "GPU0 utilization (%)" in screen and "GPU0 memory used (GiB)" in screen
    terminal.wait_for(lambda text: "✔ finished" in text, 300, "the run's end")
    terminal.child.send("q")
    assert terminal.wait_for_exit() == 0

    device = (tmp_path / "device.json").read_text()
    events, report = read_events(log)
    assert report.skipped == 0
    samples = [event for event in events if event.type == "system"]
    assert len(samples) >= 4
    for sample in samples:
        assert sample.gpu_note is None
        assert [gpu["name"] for gpu in sample.gpus] == GPUS
        for gpu in sample.gpus:
            assert 0 <= gpu["utilization"] <= 100
            assert 0 < gpu["memory_used"] <= gpu["memory_total"]
    if '"gpu": true' in device:
        # NVML lists the training process (this run) with the memory it holds.
        ours = [
            process
            for sample in samples
            for gpu in sample.gpus
            for process in gpu["processes"]
            if process["this"]
        ]
        assert ours and max(process["memory"] for process in ours) > 0, device
        assert max(gpu["utilization"] for s in samples for gpu in s.gpus) > 0
