"""Worker processes forked from the script's thread under the real ``kmon train
--headless`` exit as under ``python``: with code 0 (a user's trial found every one
exiting with 1 once the script's thread was no threading.Thread)."""

from __future__ import annotations


def test_forked_workers_exit_cleanly_and_the_run_is_ok(real_run):
    run = real_run.clean("multiprocessing_fork.py")
    assert "worker exit codes [0, 0], pool [1, 2, 3]" in run.stdout
    assert "worker 0: mean" in run.stdout and "worker 1: mean" in run.stdout
    assert [e.epoch for e in run.events if e.type == "epoch_end"] == [0, 1]
    assert run.events[-1].type == "run_end" and run.events[-1].status == "ok"
