"""The per-user runs index: registration by every log writer, 20 runs registering at
once, private files, refused links, invalid lines skipped, pruning."""

from __future__ import annotations

import json
import multiprocessing
import os
import stat
import subprocess
import sys

import pytest

from kmon.engine.events import EpochEnd, RunEnd, RunStart
from kmon.engine.log import runs_index
from kmon.engine.log.indexed_runs import (
    ELSEWHERE,
    MISSING,
    NOT_A_LOG,
    all_runs,
    find_indexed_run,
    prune_stale,
)
from kmon.engine.log.process_identity import of_this_process
from kmon.engine.log.runs_folder import AmbiguousRun, RunNotFound
from kmon.engine.log.runs_index import RunsIndexError, read_index, register
from kmon.engine.log.writer import EventLogWriter


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def write_log(path, *, pid: int, t: float, end: str | None = None, epochs: int = 0, me=None):
    """A run's log, through the writer every run uses (which registers it)."""
    writer = EventLogWriter(path)
    identity = (me.start_time, me.boot_id) if me is not None else (None, None)
    writer.put(
        RunStart(script="/x/train.py", pid=pid, start_time=identity[0], boot_id=identity[1], t=t)
    )
    for epoch in range(epochs):
        writer.put(EpochEnd(fit=0, epoch=epoch, logs={"loss": 1.0}, t=t + epoch + 1))
    if end:
        writer.put(RunEnd(status=end, exit_code=0 if end == "ok" else 1, t=t + 100))
    writer.close()


def write_this_process(path, *, t: float) -> None:
    me = of_this_process()
    write_log(path, pid=me.pid, t=t, me=me)


def test_the_index_lives_under_xdg_state_home(runs_index_home, monkeypatch, tmp_path):
    assert runs_index.index_dir() == runs_index_home / "kmon"
    monkeypatch.setenv("XDG_STATE_HOME", "relative/path")  # the XDG spec: ignored
    monkeypatch.setenv("HOME", str(tmp_path))
    assert runs_index.index_dir() == tmp_path / ".local" / "state" / "kmon"


def test_a_log_writer_registers_its_run_with_private_files(runs_index_home, tmp_path):
    os.umask(0o022)
    write_log(tmp_path / "runs" / "r1.jsonl", pid=123, t=1000, end="ok")
    index = read_index()
    assert [(e.run_id, e.log, e.pid) for e in index.entries] == [
        ("r1", tmp_path / "runs" / "r1.jsonl", os.getpid())
    ]
    assert index.skipped == 0
    folder = runs_index_home / "kmon"
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(folder / "runs.jsonl").st_mode) == 0o600


def _register_many(log: str, count: int) -> None:
    for n in range(count):
        register(f"{log}-{n}.jsonl")


def test_twenty_processes_registering_at_once_lose_no_entry(tmp_path):
    start = multiprocessing.get_context("spawn")
    # Long paths make each line ~2 KB: interleaved writes would break lines.
    stem = str(tmp_path / ("x" * 1800) / "run")
    workers = [start.Process(target=_register_many, args=(f"{stem}-{n}", 5)) for n in range(20)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    index = read_index()
    assert index.skipped == 0
    assert len(index.entries) == 100
    assert {e.pid for e in index.entries} == {w.pid for w in workers}
    lines = (runs_index.index_path()).read_bytes().split(b"\n")
    assert all(json.loads(line)["v"] == 1 for line in lines if line)


def test_invalid_lines_are_skipped_and_counted(tmp_path):
    register(tmp_path / "good.jsonl")
    with open(runs_index.index_path(), "a") as index:
        for bad in (
            "not json",
            json.dumps({"v": 2, "log": "/a.jsonl", "run": "a", "t": 1}),  # newer version
            json.dumps({"v": 1, "log": "relative.jsonl", "run": "a", "t": 1}),
            json.dumps({"v": 1, "log": "/a.jsonl", "run": "../x", "t": 1}),
            json.dumps({"v": 1, "log": "/a.jsonl", "run": "a", "t": "soon"}),
            json.dumps({"v": 1, "log": "/a.jsonl", "run": "a", "t": 1, "pid": -4}),
            json.dumps({"v": 1, "log": "/a.jsonl", "run": "a", "t": 1, "pid": True}),
            json.dumps([1, 2]),
            "x" * 5000,
        ):
            index.write(bad + "\n")
        index.write('{"v": 1, "log": "/cut')  # a line cut off, no newline
    read = read_index()
    assert [e.run_id for e in read.entries] == ["good"]
    assert read.skipped == 10


def test_an_index_reached_through_a_link_is_refused(runs_index_home, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (runs_index_home / "kmon").symlink_to(elsewhere)
    with pytest.raises(RunsIndexError, match="symbolic link"):
        register(tmp_path / "a.jsonl")
    with pytest.raises(RunsIndexError, match="symbolic link"):
        read_index()
    assert list(elsewhere.iterdir()) == []


def test_an_index_file_that_is_a_link_is_refused(runs_index_home, tmp_path):
    target = tmp_path / "target"
    target.write_text("")
    (runs_index_home / "kmon").mkdir(mode=0o700)
    (runs_index_home / "kmon" / "runs.jsonl").symlink_to(target)
    with pytest.raises(RunsIndexError, match="symbolic link"):
        register(tmp_path / "a.jsonl")
    with pytest.raises(RunsIndexError, match="symbolic link"):
        read_index()
    assert target.read_text() == ""


def test_an_unreadable_index_says_so(runs_index_home, tmp_path):
    (runs_index_home / "kmon").mkdir(mode=0o700)
    (runs_index_home / "kmon" / "runs.jsonl").mkdir()
    with pytest.raises(RunsIndexError, match="not a regular file"):
        read_index()


def test_a_run_goes_on_when_the_index_cannot_be_written(runs_index_home, tmp_path):
    (runs_index_home / "kmon").write_text("a file in the way")
    write_log(tmp_path / "r.jsonl", pid=1, t=1000, end="ok")
    assert (tmp_path / "r.jsonl").read_text().count("\n") == 2


def test_a_missing_index_reads_empty():
    read = read_index()
    assert read.entries == [] and read.skipped == 0


def test_statuses_of_indexed_runs_and_prune(tmp_path, monkeypatch):
    gone = dead_pid()
    folders = [tmp_path / name for name in ("a", "b", "c")]
    write_log(folders[0] / "ok-run.jsonl", pid=gone, t=1000, end="ok", epochs=2)
    write_log(folders[1] / "stale-run.jsonl", pid=gone, t=2000, epochs=1)
    write_this_process(folders[2] / "live-run.jsonl", t=3000)
    write_log(folders[0] / "gone-run.jsonl", pid=gone, t=4000, end="ok")
    (folders[0] / "gone-run.jsonl").unlink()
    write_log(folders[1] / "junk-run.jsonl", pid=gone, t=5000, end="ok")
    (folders[1] / "junk-run.jsonl").write_text("no longer a kmon log\n")
    register(tmp_path / "never-written.jsonl")
    runs, index = all_runs()
    by_id = {run.run_id: run.status for run in runs}
    assert by_id == {
        "ok-run": "ok",
        "stale-run": "stale",
        "live-run": "running",
        "gone-run": MISSING,
        "junk-run": NOT_A_LOG,
        "never-written": MISSING,
    }
    removed = prune_stale()
    assert sorted(e.run_id for e in removed) == [
        "gone-run",
        "junk-run",
        "never-written",
        "stale-run",
    ]
    assert [e.run_id for e in read_index().entries] == ["ok-run", "live-run"]
    # Pruning never deletes a log.
    assert (folders[1] / "stale-run.jsonl").exists() and (folders[1] / "junk-run.jsonl").exists()


def test_a_run_of_another_machine_is_elsewhere_not_stale(tmp_path, monkeypatch):
    write_log(tmp_path / "far.jsonl", pid=dead_pid(), t=1000)
    import kmon.engine.log.indexed_runs as indexed

    monkeypatch.setattr(indexed, "this_host", lambda: "another-host")
    runs, _ = all_runs()
    assert [run.status for run in runs] == [ELSEWHERE]
    assert prune_stale() == []


def test_a_run_is_found_by_id_or_unique_prefix_from_anywhere(tmp_path):
    write_log(tmp_path / "one" / "20250101-abc.jsonl", pid=dead_pid(), t=1000, end="ok")
    write_log(tmp_path / "two" / "20250101-abd.jsonl", pid=dead_pid(), t=2000, end="failed")
    assert find_indexed_run("20250101-abc").status == "ok"
    assert find_indexed_run("20250101-abd").path == tmp_path / "two" / "20250101-abd.jsonl"
    with pytest.raises(AmbiguousRun, match="several"):
        find_indexed_run("20250101-ab")
    with pytest.raises(RunNotFound, match="no run"):
        find_indexed_run("nothing")
    (tmp_path / "one" / "20250101-abc.jsonl").unlink()
    with pytest.raises(RunNotFound, match="missing"):
        find_indexed_run("20250101-abc")


def test_the_folder_runs_the_index_lacks_are_listed_too(tmp_path, runs_index_home):
    write_log(tmp_path / "runs" / "old.jsonl", pid=dead_pid(), t=1000, end="ok")
    runs_index.index_path().unlink()  # as if written by a kmon without the index
    write_log(tmp_path / "runs" / "new.jsonl", pid=dead_pid(), t=2000, end="ok")
    runs, _ = all_runs(tmp_path / "runs")
    assert [(run.run_id, run.entry is not None) for run in runs] == [
        ("old", False),
        ("new", True),
    ]
