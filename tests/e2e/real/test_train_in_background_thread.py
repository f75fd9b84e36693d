"""A script that trains in a thread it never joins: Python runs the thread to its
end before the process exits, and so does ``kmon train``, monitoring its fit."""

from __future__ import annotations

from kmon_process import run_python
from locations import REAL

from kmon.engine.events import THREADS_TOPIC
from kmon.engine.phases import NO_TRAINING_NOTE

SCRIPT = "train_in_background_thread.py"


def test_under_python_the_thread_trains_and_saves(tmp_path):
    done = run_python(REAL / SCRIPT, "model.keras", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "model.keras").stat().st_size > 0


def test_under_kmon_the_threads_fit_is_monitored_to_its_end(real_run):
    run = real_run(SCRIPT, args=("model.keras",))
    assert run.returncode == 0, run.stderr[-3000:]
    assert (run.folder / "model.keras").stat().st_size > 0
    assert "saved model.keras" in run.stdout
    end = run.events[-1]
    assert (end.type, end.status, end.fits) == ("run_end", "ok", 1)
    assert [e.epoch for e in run.of_type("epoch_end")] == [0, 1, 2]
    assert all("val_loss" in e.logs for e in run.of_type("epoch_end"))
    assert len(run.of_type("batch")) == 3 * 6  # 192 training rows in batches of 32
    notices = [e.text for e in run.of_type("notice")]
    assert NO_TRAINING_NOTE not in notices
    assert any(e.topic == THREADS_TOPIC and "(trainer)" in e.text for e in run.of_type("notice"))
    assert run.state.phase == "finished"
