"""Headless mode end to end, in a fresh interpreter so fds 1 and 2 are real."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap

from kmon.engine.log.eventlog import read_events

DRIVER = """
import sys
from kmon.engine.run.targets import ScriptTarget
from kmon.engine.headless import run_headless
from kmon.engine.run.session import Session

target = ScriptTarget.checked(sys.argv[1], sys.argv[3:])
sys.exit(run_headless(Session(target, sys.argv[2])))
"""

SCRIPT = """
import sys
import keras
import numpy as np

print("script says hi", sys.argv[1:])
keras.utils.set_random_seed(0)
x = np.random.default_rng(0).normal(size=(8, 3)).astype("float32")
y = x.sum(axis=1, keepdims=True)
model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)], name="tiny")
model.compile(optimizer="sgd", loss="mse")
model.fit(x, y, batch_size=4, epochs=2, validation_split=0.5)
print("script done", file=sys.stderr)
"""


def _headless(tmp_path, source, *args):
    script = tmp_path / "train.py"
    script.write_text(textwrap.dedent(source), encoding="utf-8")
    log = tmp_path / "runs" / "run.jsonl"
    result = subprocess.run(
        [sys.executable, "-c", DRIVER, str(script), str(log), *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return result, log


def test_headless_run_reports_epochs_and_summary(tmp_path):
    result, log = _headless(tmp_path, SCRIPT, "--flag")
    out, err = result.stdout, result.stderr
    assert result.returncode == 0, err
    lines = out.splitlines()
    assert "script says hi ['--flag']" in lines
    assert "script done" in err.splitlines()
    assert "[kmon] fit 0: 2 epochs × 1 step · model tiny" in lines
    epoch_lines = [line for line in lines if line.startswith("[kmon] epoch ")]
    assert len(epoch_lines) == 2
    pattern = r"\[kmon\] epoch {n}/2 \(fit 0\) · 1 step · \d+\.\ds · loss=\S+ \(constant \S+\) val_loss=\S+"
    assert re.fullmatch(pattern.format(n=1, e=0), epoch_lines[0]), epoch_lines[0]
    assert re.fullmatch(pattern.format(n=2, e=1), epoch_lines[1]), epoch_lines[1]
    summary = lines[-1]
    assert summary.startswith("[kmon] run ok in ")
    assert "1 fit, 2 epochs, 2 steps" in summary
    assert "final loss=" in summary and f"log: {log}" in summary
    # Keras's own progress bar was silenced.
    assert "━" not in out and "/step" not in out

    events, report = read_events(log)
    assert report.skipped == 0 and not report.truncated_tail
    types = [e.type for e in events]
    assert types[0] == "run_start" and types[-1] == "run_end"
    assert types.count("run_start") == 1 and types.count("run_end") == 1
    assert types.count("epoch_end") == 2
    assert events[-1].status == "ok" and events[-1].exit_code == 0 and events[-1].fits == 1
    texts = [(e.stream, e.text) for e in events if e.type == "log"]
    assert ("stdout", "script says hi ['--flag']") in texts
    assert ("stderr", "script done") in texts


def test_headless_failed_run_prints_traceback_and_exits_1(tmp_path):
    source = SCRIPT.replace(
        'print("script done", file=sys.stderr)', 'raise RuntimeError("loss diverged")'
    )
    result, log = _headless(tmp_path, source)
    assert result.returncode == 1
    assert sum(line.startswith("[kmon] epoch ") for line in result.stdout.splitlines()) == 2
    assert result.stdout.splitlines()[-1].startswith("[kmon] run failed in ")
    err = result.stderr
    assert "Traceback (most recent call last):" in err
    assert f'File "{(tmp_path / "train.py").resolve()}", line 13, in <module>' in err
    assert err.rstrip().endswith("RuntimeError: loss diverged")
    events, _ = read_events(log)
    assert events[0].type == "run_start"
    assert events[-1].type == "run_end" and events[-1].status == "failed"
    assert events[-1].error["message"] == "RuntimeError: loss diverged"


FREEZE_SCRIPT = """
import gc
import time
import keras
import numpy as np

x = np.zeros((8, 3), dtype="float32")
model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
model.compile(optimizer="sgd", loss="mse")
print("frozen before the fit:", gc.get_freeze_count())
model.fit(x, x[:, :1], batch_size=4, epochs=1, verbose=0)
deadline = time.monotonic() + 30
while gc.get_freeze_count() == 0 and time.monotonic() < deadline:
    time.sleep(0.02)  # the loop drains every 0.1 s
print("frozen after the fit:", gc.get_freeze_count() > 0)
"""


def test_headless_run_freezes_what_is_alive_at_the_first_fit(tmp_path):
    result, _log = _headless(tmp_path, FREEZE_SCRIPT)
    lines = result.stdout.splitlines()
    assert result.returncode == 0, result.stderr
    assert "frozen before the fit: 0" in lines
    assert "frozen after the fit: True" in lines

