"""A script that crashes mid-epoch: kmon exits as python would, the traceback is the
script's own, and every batch the fit finished before the crash is in the log
(they wait on a tape of up to 32 batch ends that the crash must not lose)."""

from __future__ import annotations


def test_the_batches_before_a_crash_are_in_the_log(real_run):
    run = real_run("crash_mid_fit.py")
    assert run.returncode == 1
    assert "FileNotFoundError" in run.stderr and "crash_mid_fit.py" in run.stderr
    assert "kmon/engine" not in run.stderr and "engine/run" not in run.stderr
    batches = run.of_type("batch")
    # Keras calls the script's callback before kmon's: batch 130 raised before
    # kmon saw it end, and batches 0-129 are all there, each with its own value.
    assert [(b.epoch, b.step) for b in batches] == [(0, step) for step in range(130)]
    assert all(b.values is not None and b.values["loss"] >= 0 for b in batches)
    end = run.of_type("run_end")[0]
    assert (end.status, end.exit_code) == ("failed", 1)
