"""A script's last save, handed to a thread it never joins, must reach the disk under
``kmon train`` as under ``python``: Python waits for a thread that is no daemon.

Under kmon the script runs on kmon's training thread, and a thread inherits
``daemon`` from the one that starts it: while that thread was a daemon, the saver
was one too and the process ended before it wrote (found by a user-style trial,
2026-12-05). Now the training thread is no daemon, and the runner waits for the
script's threads before ``run_end`` (:mod:`kmon.engine.run.script_threads`).
"""

from __future__ import annotations

import json

from kmon_process import run_python
from locations import REAL

from kmon.engine.events import THREADS_TOPIC

SCRIPT = "unjoined_save_thread.py"


def test_under_python_the_unjoined_thread_saves(tmp_path):
    results = tmp_path / "results.json"
    done = run_python(REAL / SCRIPT, str(results), cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(results.read_text())["final_loss"] >= 0


def test_under_kmon_the_unjoined_thread_saves_before_the_run_ends(real_run, tmp_path):
    results = tmp_path / "results.json"
    run = real_run(SCRIPT, args=(str(results),))
    assert run.returncode == 0, run.stderr[-3000:]
    assert "saving in the background" in run.stdout
    assert json.loads(results.read_text())["final_loss"] >= 0
    assert run.events[-1].status == "ok"
    # The thread takes a second: kmon says what it waits for, before the run's end.
    [waiting] = [e for e in run.of_type("notice") if e.topic == THREADS_TOPIC]
    assert "(saver)" in waiting.text and waiting.t <= run.events[-1].t
