"""``from kmon import Monitor`` in a script run by plain ``python`` (as a scheduler
runs it): the same event log as ``kmon train``, found by ``kmon ps``, followed by
``kmon attach`` and stopped by ``kmon stop`` from another shell, with the script's
own output unchanged."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from kmon_process import clean_env, run_kmon

from kmon.engine.log.eventlog import read_events
from kmon.engine.log.runs_folder import list_runs

# Two fits of one model, the second on data with a NaN (an alarm), printing only its
# own lines; with USE_MONITOR unset it is the same script without kmon.
SCRIPT = """\
import os
import numpy as np
import keras

callbacks = []
if os.environ.get("USE_MONITOR"):
    from kmon import Monitor
    callbacks = [Monitor(notify_cmd=os.environ.get("NOTIFY") or None, system_interval=0.2)]
keras.utils.set_random_seed(0)
x = np.random.default_rng(0).normal(size=(128, 4)).astype("float32")
y = x.sum(axis=1, keepdims=True)
model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
model.compile(optimizer="sgd", loss="mse")
print("first fit")
model.fit(x, y, batch_size=32, epochs=2, verbose=0, callbacks=callbacks)
print("second fit")
x[0, 0] = np.nan
model.fit(x, y, batch_size=32, epochs=1, verbose=0, callbacks=callbacks)
print("script done")
"""

# Trains until stopped, slowly enough to be caught: a stop ends the fit after its
# batch, and the script runs on to its end.
LONG_SCRIPT = """\
import time
import numpy as np
import keras
from kmon import Monitor

x = np.random.default_rng(0).normal(size=(64, 4)).astype("float32")
model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
model.compile(optimizer="sgd", loss="mse")
slow = keras.callbacks.LambdaCallback(on_batch_end=lambda batch, logs: time.sleep(0.05))
model.fit(x, x[:, :1], batch_size=16, epochs=10_000, verbose=0, callbacks=[slow, Monitor()])
print("fit returned", flush=True)
"""


def python(script: Path, *, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(script)],
        cwd=script.parent,
        capture_output=True,
        text=True,
        timeout=180,
        stdin=subprocess.DEVNULL,
        env=env,
    )


def test_a_script_run_by_python_writes_a_complete_log(tmp_path: Path) -> None:
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    seen = tmp_path / "notified.txt"
    env = dict(clean_env(), USE_MONITOR="1", NOTIFY=f'echo "$KMON_EVENT $KMON_STATUS" >> {seen}')

    plain = python(script, env=clean_env())
    monitored = python(script, env=env)

    assert monitored.returncode == 0, monitored.stderr
    assert monitored.stdout == plain.stdout == "first fit\nsecond fit\nscript done\n"
    [info] = list_runs(tmp_path / "kmon-runs")
    events, report = read_events(info.path)
    assert report.skipped == 0
    start, end = events[0], events[-1]
    assert start.type == "run_start" and start.script == str(script)
    assert start.pid is not None and start.start_time is not None
    assert end.type == "run_end" and (end.status, end.exit_code, end.fits) == ("ok", 0, 2)
    # Two fits of one Monitor... well, two Monitors in one process: one run.
    assert [e.fit for e in events if e.type == "fit_start"] == [0, 1]
    assert len([e for e in events if e.type == "epoch_end"]) == 3
    assert [e.fit for e in events if e.type == "probes"] == [0, 1]
    assert [(e.kind, e.fit) for e in events if e.type == "alarm" and e.state == "raised"][0] == (
        "nonfinite_data",
        1,
    )
    assert len([e for e in events if e.type == "batch"]) == 4 * 3
    notified = seen.read_text().splitlines()
    assert notified[0] == "alarm error" and notified[-1] == "run_end ok"
    ps = run_kmon("ps", cwd=tmp_path)
    assert info.id in ps.stdout and " ok " in ps.stdout and "train.py" in ps.stdout
    # The process is sampled as under kmon train, and the run is in the user's index.
    samples = [e for e in events if e.type == "system"]
    assert samples and all(sample.rss > 0 for sample in samples)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    assert info.id in run_kmon("ps", "--all", cwd=elsewhere).stdout


def test_attach_then_stop_a_running_script(tmp_path: Path) -> None:
    pytest.importorskip("pexpect")
    pytest.importorskip("pyte")
    from pty_helpers import Terminal

    script = tmp_path / "long.py"
    script.write_text(LONG_SCRIPT)
    process = subprocess.Popen(
        [sys.executable, str(script)],
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=clean_env(),
    )
    try:
        info = _wait_until_training(tmp_path / "kmon-runs", process)
        assert info.pid == process.pid
        ps = run_kmon("ps", cwd=tmp_path)
        assert " running " in ps.stdout, ps.stdout

        terminal = Terminal(["attach", info.id], cwd=tmp_path, rows=30, cols=100)
        try:
            terminal.wait_for(lambda text: "long.py" in text.splitlines()[0], 60, "the header")
            terminal.press("q")
            assert terminal.wait_for_exit() == 0
        finally:
            terminal.kill()
        assert "detached from run" in terminal.output and "still running" in terminal.output

        stop = run_kmon("stop", info.id, cwd=tmp_path)
        assert stop.returncode == 0, stop.stderr
        out, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    assert process.returncode == 0
    assert out == "fit returned\n"  # the fit stopped after its batch; the script ran on
    events, report = read_events(info.path)
    assert report.skipped == 0
    end = events[-1]
    assert end.type == "run_end" and (end.status, end.exit_code) == ("stopped", 0)
    [fit_end] = [e for e in events if e.type == "fit_end"]
    assert fit_end.stopped_early


def _wait_until_training(folder: Path, process: subprocess.Popen, timeout: float = 120.0):
    """The run once its log shows a batch (the script is inside fit())."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, "the script exited early"
        runs = list_runs(folder) if folder.exists() else []
        if runs and b'"type":"batch"' in runs[0].path.read_bytes():
            return runs[0]
        time.sleep(0.2)
    pytest.fail("the script did not start training")


def test_import_kmon_stays_light() -> None:
    """``import kmon`` (what the command line imports first) loads no Keras,
    TensorFlow or Textual; ``kmon.Monitor`` does, when asked for."""
    code = (
        "import sys, kmon\n"
        "print(sorted(m for m in ('keras', 'tensorflow', 'textual') if m in sys.modules))\n"
        "kmon.Monitor\n"
        "print('keras' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["[]", "True"]
