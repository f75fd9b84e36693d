"""Runs found from anywhere, end to end on the real `kmon` command: a detached run
started in one folder is listed (`ps --all`), attached to and stopped from another;
`ps --prune` and an unreadable index."""

from __future__ import annotations

import re
import time

import pytest

pytest.importorskip("pexpect", reason="pexpect is needed for the pty tests")
pytest.importorskip("pyte", reason="pyte is needed for the pty tests")

from kmon_process import run_kmon  # noqa: E402
from pty_helpers import Terminal  # noqa: E402 - after the skips above
from test_detach_attach import ENDLESS, ended, epochs_done, wait_for_log  # noqa: E402

from kmon.engine.events import RunEnd, RunStart  # noqa: E402
from kmon.engine.log.writer import EventLogWriter  # noqa: E402


def test_a_run_started_elsewhere_is_listed_attached_and_stopped(tmp_path):
    project, home = tmp_path / "project", tmp_path / "home"
    project.mkdir()
    home.mkdir()
    (project / "endless.py").write_text(ENDLESS)
    result = run_kmon("train", "--detach", "endless.py", cwd=project)
    assert result.returncode == 0, result.stderr
    run_id = re.search(r"started run (\S+)", result.stdout).group(1)
    log = project / "kmon-runs" / f"{run_id}.jsonl"
    try:
        assert "no runs in kmon-runs" in run_kmon("ps", cwd=home).stdout
        listing = run_kmon("ps", "--all", cwd=home).stdout
        assert re.search(
            rf"^{run_id} +running .* {project / 'kmon-runs'} +endless\.py$", listing, re.MULTILINE
        ), listing
        wait_for_log(log, lambda e: epochs_done(e) >= 1, 90, "an epoch")

        # By a prefix of its id; then with no id at all: home has no runs folder, so
        # attach takes the index's newest running run.
        for attach in (["attach", run_id[:-2]], ["attach"]):
            terminal = Terminal(attach, cwd=home, rows=30, cols=100)
            try:
                terminal.wait_for(lambda s: "endless.py" in s and "training" in s, 30, "the run")
                terminal.press("q")
                assert terminal.wait_for_exit() == 0
            finally:
                terminal.kill()
            assert f"detached from run {run_id} (still running)" in terminal.output
    finally:
        stop = run_kmon("stop", run_id, cwd=home)
    assert stop.returncode == 0, stop.stderr
    assert f"asked run {run_id}" in stop.stdout
    assert wait_for_log(log, ended, 60, "the run to stop")[-1]["status"] == "stopped"
    assert re.search(rf"^{run_id} +stopped ", run_kmon("ps", "--all", cwd=home).stdout, re.M)


def _finished_log(path, t: float) -> None:
    writer = EventLogWriter(path)
    writer.put(RunStart(script="/x/train.py", pid=1, t=t))
    writer.put(RunEnd(status="ok", t=t + 5))
    writer.close()


def test_prune_drops_missing_and_stale_entries_but_no_log(tmp_path):
    _finished_log(tmp_path / "a" / "kept.jsonl", time.time() - 60)
    _finished_log(tmp_path / "b" / "gone.jsonl", time.time() - 30)
    (tmp_path / "b" / "gone.jsonl").unlink()
    listing = run_kmon("ps", "--all", cwd=tmp_path).stdout
    assert re.search(r"^gone +missing ", listing, re.M), listing
    assert "kmon ps --prune" in listing
    pruned = run_kmon("ps", "--prune", cwd=tmp_path)
    assert pruned.returncode == 0, pruned.stderr
    assert "removed gone" in pruned.stdout and "pruned 1 entry" in pruned.stdout
    listing = run_kmon("ps", "--all", cwd=tmp_path).stdout
    assert "kept" in listing and "gone" not in listing
    assert (tmp_path / "a" / "kept.jsonl").exists()


def test_an_unknown_run_and_an_unreadable_index_get_one_line(tmp_path, runs_index_home):
    stop = run_kmon("stop", "nothing-like-it", cwd=tmp_path)
    assert stop.returncode == 2
    assert stop.stderr.strip().splitlines() == [
        "kmon: error: no run 'nothing-like-it' in the runs folder or the runs index "
        "(see `kmon ps --all`)"
    ]
    (runs_index_home / "kmon").mkdir(mode=0o700)
    (runs_index_home / "kmon" / "runs.jsonl").mkdir()  # not a file
    for args in (("ps", "--all"), ("ps", "--prune"), ("stop", "x")):
        result = run_kmon(*args, cwd=tmp_path)
        assert result.returncode == 2, args
        assert len(result.stderr.strip().splitlines()) == 1
        assert "runs index" in result.stderr and "not a regular file" in result.stderr
