"""A script whose main code returns leaving a trainer thread, an open process pool
and a child process to finish: Python finishes them all before it exits, the
thread seeing the script's ``sys.argv`` and ``__main__``, and so does ``kmon
train``, its run ending after them (found by user-style trials, 2026-12-05: the
thread saw kmon's ``sys.argv``, the pool kept kmon waiting for ever, and the
child's report came after ``run_end``)."""

from __future__ import annotations

from kmon_process import run_python
from locations import REAL

SCRIPT = "leaves_work_running.py"


def _finished_work(folder) -> None:
    summary = (folder / "summary.pkl").read_bytes()
    assert b"RunSummary" in summary and b"__main__" in summary
    assert (folder / "child.txt").read_text() == "report\n"


def test_under_python_everything_finishes(tmp_path):
    done = run_python(REAL / SCRIPT, str(tmp_path), cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    _finished_work(tmp_path)


def test_under_kmon_everything_finishes_before_the_run_ends(real_run):
    run = real_run(SCRIPT, args=(".",))
    assert run.returncode == 0, run.stderr[-3000:]
    _finished_work(run.folder)
    assert "Traceback" not in run.stdout + run.stderr
    end = run.events[-1]
    assert (end.type, end.status, end.fits) == ("run_end", "ok", 1)
    lines = [e.text for e in run.of_type("log")]
    assert "scores [0, 1, 4]" in lines
    # The thread's and the child's last words are the run's, before its end.
    assert {"trainer saved its summary", "child wrote its report"} <= set(lines)
