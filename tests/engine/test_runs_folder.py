"""`kmon ps`'s view of the runs folder, read from the event logs alone."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import tracemalloc

import pytest

from kmon.engine.events import Batch, EpochEnd, FitStart, Log, RunEnd, RunStart
from kmon.engine.log import runs_folder as runs
from kmon.engine.log.eventlog import EventLogWriter
from kmon.engine.log.process_identity import (
    Liveness,
    ProcessIdentity,
    current_boot_id,
    of_this_process,
    start_time_of,
)
from kmon.engine.log.runs_folder import RunNotFound, find_run, list_runs, read_run
from kmon.engine.run.targets import CallableTarget, ScriptTarget


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def write_log(
    path,
    *,
    pid: int,
    t: float,
    end: str | None = None,
    epochs: int = 0,
    start_time: int | None = None,
    boot_id: str | None = None,
) -> None:
    writer = EventLogWriter(path)
    writer.put(
        RunStart(
            script="/x/train.py", argv=[], pid=pid, start_time=start_time, boot_id=boot_id, t=t
        )
    )
    for epoch in range(epochs):
        writer.put(EpochEnd(fit=0, epoch=epoch, logs={"loss": 1.0}, t=t + epoch + 1))
    if end:
        writer.put(RunEnd(status=end, exit_code=0 if end == "ok" else 1, t=t + 100))
    writer.close()


def write_this_process(path, *, t: float, epochs: int = 0) -> None:
    """A run whose process is this one (a live run)."""
    me = of_this_process()
    write_log(path, pid=me.pid, t=t, epochs=epochs, start_time=me.start_time, boot_id=me.boot_id)


def test_statuses_come_from_the_logs_and_the_processes(tmp_path):
    gone = dead_pid()
    write_log(tmp_path / "a-finished.jsonl", pid=gone, t=1000, end="ok", epochs=3)
    write_log(tmp_path / "b-failed.jsonl", pid=gone, t=2000, end="failed")
    write_log(tmp_path / "c-stale.jsonl", pid=gone, t=3000, epochs=2)
    write_this_process(tmp_path / "d-running.jsonl", t=4000, epochs=1)
    (tmp_path / "notes.jsonl").write_text("not a kmon log\n")
    found = list_runs(tmp_path)
    assert [(r.id, r.status, r.epochs) for r in found] == [
        ("a-finished", "ok", 3),
        ("b-failed", "failed", 0),
        ("c-stale", "stale", 2),
        ("d-running", "running", 1),
    ]
    assert found[0].what == "train.py"
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


def test_a_reused_pid_is_not_the_run_unless_its_start_time_and_boot_match(tmp_path):
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        real = ProcessIdentity(sleeper.pid, start_time_of(sleeper.pid), current_boot_id())
        assert real.liveness() is Liveness.ALIVE
        earlier = ProcessIdentity(sleeper.pid, real.start_time - 1, real.boot_id)
        assert earlier.liveness() is Liveness.GONE  # the pid was reused
        other_boot = ProcessIdentity(sleeper.pid, real.start_time, "0" * 8 + real.boot_id[8:])
        assert other_boot.liveness() is Liveness.GONE  # a run from before a reboot
        unverifiable = ProcessIdentity(sleeper.pid, None, None)
        assert unverifiable.liveness() is Liveness.UNKNOWN  # an older kmon's log
        write_log(tmp_path / "old.jsonl", pid=sleeper.pid, t=1)  # no start time, no boot id
        assert read_run(tmp_path / "old.jsonl").status == "unknown"
    finally:
        sleeper.kill()
        sleeper.wait()
    assert real.liveness() is Liveness.GONE
    assert read_run(tmp_path / "old.jsonl").status == "stale"


def test_an_exited_unreaped_process_is_gone():
    zombie = subprocess.Popen([sys.executable, "-c", "pass"])
    identity = ProcessIdentity(zombie.pid, start_time_of(zombie.pid), current_boot_id())
    try:
        deadline = 50
        while identity.liveness() is Liveness.ALIVE and deadline:
            threading.Event().wait(0.1)
            deadline -= 1
        assert identity.liveness() is Liveness.GONE  # exited: a zombie until waited for
    finally:
        zombie.wait()


def test_run_start_records_this_process_identity(tmp_path):
    script = tmp_path / "train.py"
    script.write_text("pass\n")
    me = of_this_process()
    assert me.start_time is not None and me.boot_id is not None
    for start in (
        ScriptTarget.checked(str(script), []).run_start(),
        CallableTarget("demo", lambda: None).run_start(),
    ):
        assert (start.pid, start.start_time, start.boot_id) == (
            os.getpid(),
            me.start_time,
            me.boot_id,
        )


def test_a_truncated_log_still_reads(tmp_path):
    path = tmp_path / "cut.jsonl"
    write_log(path, pid=dead_pid(), t=5, epochs=2)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 7])  # the last line is cut mid-way
    info = read_run(path)
    assert info is not None and info.status == "stale" and info.epochs == 1


def test_a_long_log_is_read_at_its_ends(tmp_path):
    """Epochs and the end come from the tail alone, batches or epoch ends."""
    path = tmp_path / "long.jsonl"
    writer = EventLogWriter(path)
    writer.put(RunStart(script="/x/long.py", pid=dead_pid(), t=10.0))
    writer.put(FitStart(epochs=100, steps=1000, t=10.0))
    for index in range(12_000):  # ~2 MB: far beyond the tail
        epoch, step = divmod(index, 1000)
        writer.put(Batch(epoch=epoch, step=step, logs={"loss": 1.0}, t=10.0 + index))
        if step == 999:
            writer.put(EpochEnd(epoch=epoch, logs={"loss": 1.0}, t=10.0 + index))
    writer.put(Batch(epoch=12, step=0, logs={"loss": 1.0}, t=20_000.0))
    writer.put(Log(text="epoch 12 is under way", t=20_001.0))
    writer.close()
    assert path.stat().st_size > 20 * runs.TAIL_BYTES
    info = read_run(path)
    assert (info.status, info.epochs, info.last_t, info.started) == ("stale", 12, 20_001.0, 10.0)
    with open(path, "a") as handle:
        handle.write(FitStart(epochs=5, initial_epoch=3, t=20_002.0).to_json() + "\n")
        handle.write(RunEnd(status="stopped", t=20_003.0).to_json() + "\n")
    info = read_run(path)
    assert (info.status, info.epochs, info.last_t) == ("stopped", 3, 20_003.0)


def test_a_tail_that_does_not_tell_the_epochs_says_so(tmp_path):
    path = tmp_path / "chatty.jsonl"
    writer = EventLogWriter(path)
    writer.put(RunStart(script="/x/chatty.py", pid=dead_pid(), t=1.0))
    writer.put(EpochEnd(epoch=0, logs={"loss": 1.0}, t=2.0))
    for index in range(2000):
        writer.put(Log(text=f"line {index} of the script's output", t=3.0))
    writer.close()
    assert read_run(path).epochs is None  # not 0: the tail holds only output


def test_a_first_line_past_the_cap_is_not_read_whole(tmp_path):
    path = tmp_path / "huge.jsonl"
    path.write_text('{"type": "run_start", "script": "' + "x" * (8 * 2**20) + '"}\n')
    tracemalloc.start()
    try:
        assert read_run(path) is None
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * runs.FIRST_LINE_BYTES  # not the 8 MB line


def test_a_fifo_or_folder_named_like_a_log_is_skipped(tmp_path):
    write_log(tmp_path / "real.jsonl", pid=dead_pid(), t=1, end="ok")
    os.mkfifo(tmp_path / "fifo.jsonl")  # opening it for reading would wait for a writer
    (tmp_path / "folder.jsonl").mkdir()
    done: list = []
    reader = threading.Thread(target=lambda: done.append(list_runs(tmp_path)), daemon=True)
    reader.start()
    reader.join(10)
    assert done and [info.id for info in done[0]] == ["real"]


def test_a_named_run_is_found_by_its_file_name_without_reading_the_others(tmp_path, monkeypatch):
    for index in range(20):
        write_log(tmp_path / f"2026-run-{index:02d}.jsonl", pid=dead_pid(), t=index, end="ok")
    read: list[str] = []
    real_read_run = runs.read_run

    def counting_read_run(path):
        read.append(path.name)
        return real_read_run(path)

    monkeypatch.setattr(runs, "read_run", counting_read_run)
    assert find_run(tmp_path, "2026-run-07").id == "2026-run-07"
    assert read == ["2026-run-07.jsonl"]
    read.clear()
    with pytest.raises(RunNotFound, match="matches several runs"):
        find_run(tmp_path, "2026-run-1")
    # The exact name is tried first (no such file), then the ten the prefix matches.
    assert sorted(read) == ["2026-run-1.jsonl"] + [f"2026-run-{i}.jsonl" for i in range(10, 20)]


def test_a_run_appended_after_a_killed_one_is_the_logs_run(tmp_path):
    """A run killed without a run_end, then one resumed into the same log (--append)
    that trained a while: the log's run is the resumed one, found past its batches."""
    path = tmp_path / "resumed.jsonl"
    writer = EventLogWriter(path)
    writer.put(RunStart(script="/x/train.py", pid=dead_pid(), t=1000.0))
    writer.put(EpochEnd(fit=0, epoch=0, logs={"loss": 1.0}, t=1001.0))
    me = of_this_process()
    writer.put(
        RunStart(
            script="/x/train.py",
            pid=me.pid,
            start_time=me.start_time,
            boot_id=me.boot_id,
            t=2000.0,
        )
    )
    writer.put(FitStart(epochs=5, initial_epoch=1, t=2000.0))
    writer.put(Batch(epoch=1, step=0, logs={"loss": 1.0}, t=2001.0))
    writer.put(EpochEnd(epoch=1, logs={"loss": 1.0}, t=2002.0))
    writer.close()
    info = read_run(path)
    assert (info.status, info.pid, info.epochs, info.last_t) == ("running", me.pid, 2, 2002.0)
