"""`kmon ps`'s view of the runs folder, read from the event logs alone."""

from __future__ import annotations

import subprocess
import sys

import pytest

from kmon.engine.eventlog import EventLogWriter
from kmon.engine.events import EpochEnd, RunEnd, RunStart
from kmon.engine.runs import RunNotFound, find_run, list_runs, pid_alive, read_run


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def write_log(path, *, pid: int, t: float, end: str | None = None, epochs: int = 0) -> None:
    writer = EventLogWriter(path)
    writer.put(RunStart(script="/x/train.py", argv=[], pid=pid, t=t))
    for epoch in range(epochs):
        writer.put(EpochEnd(fit=0, epoch=epoch, logs={"loss": 1.0}, t=t + epoch + 1))
    if end:
        writer.put(RunEnd(status=end, exit_code=0 if end == "ok" else 1, t=t + 100))
    writer.close()


def test_statuses_come_from_the_logs_and_the_processes(tmp_path):
    gone = dead_pid()
    write_log(tmp_path / "a-finished.jsonl", pid=gone, t=1000, end="ok", epochs=3)
    write_log(tmp_path / "b-failed.jsonl", pid=gone, t=2000, end="failed")
    write_log(tmp_path / "c-stale.jsonl", pid=gone, t=3000, epochs=2)
    write_log(tmp_path / "d-running.jsonl", pid=subprocess.os.getpid(), t=4000, epochs=1)
    (tmp_path / "notes.jsonl").write_text("not a kmon log\n")
    runs = list_runs(tmp_path)
    assert [(r.id, r.status, r.epochs) for r in runs] == [
        ("a-finished", "ok", 3),
        ("b-failed", "failed", 0),
        ("c-stale", "stale", 2),
        ("d-running", "running", 1),
    ]
    assert runs[0].what == "train.py"
    assert find_run(tmp_path).id == "d-running"  # default: the newest running
    assert find_run(tmp_path, "c-").id == "c-stale"
    assert find_run(tmp_path, str(tmp_path / "a-finished.jsonl")).status == "ok"


def test_ambiguous_or_missing_runs_are_one_line_errors(tmp_path):
    gone = dead_pid()
    write_log(tmp_path / "run-1.jsonl", pid=gone, t=1, end="ok")
    write_log(tmp_path / "run-2.jsonl", pid=gone, t=2, end="ok")
    with pytest.raises(RunNotFound, match="matches several runs"):
        find_run(tmp_path, "run-")
    with pytest.raises(RunNotFound, match="no run 'zzz'"):
        find_run(tmp_path, "zzz")
    with pytest.raises(RunNotFound, match="no running run"):
        find_run(tmp_path)


def test_a_reused_pid_of_another_program_is_not_a_live_run():
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        assert not pid_alive(sleeper.pid)
    finally:
        sleeper.kill()
        sleeper.wait()
    assert pid_alive(subprocess.os.getpid())


def test_a_truncated_log_still_reads(tmp_path):
    path = tmp_path / "cut.jsonl"
    write_log(path, pid=dead_pid(), t=5, epochs=2)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 7])  # the last line is cut mid-way
    info = read_run(path)
    assert info is not None and info.status == "stale" and info.epochs == 1
