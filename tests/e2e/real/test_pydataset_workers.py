"""A PyDataset with forked worker processes under the real ``kmon train
--headless``: the run ends and kmon exits with it, leaving no worker behind."""

from __future__ import annotations

import subprocess

from locations import REAL


def test_kmon_exits_with_the_run_and_no_worker_outlives_it(real_run):
    run = real_run.clean("pydataset_workers.py")  # a hang fails it on real_run's timeout
    assert "finished training" in run.stdout
    assert [e.epoch for e in run.events if e.type == "epoch_end"] == [0, 1]
    assert sum(e.type == "batch" for e in run.events) == 2 * 20
    script = str(REAL / "pydataset_workers.py")
    left = subprocess.run(["pgrep", "-f", script], capture_output=True, text=True).stdout
    assert left == "", f"workers left running: {left}"
