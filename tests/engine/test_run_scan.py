"""The Runs screen's reading: RunScanner finds what all_runs finds and reads a log
again only when it changed (or its run may still run); RowReader digests the rows
asked for first, within its CPU budget."""

from __future__ import annotations

import itertools

from test_runs_index import dead_pid, write_log, write_this_process

from kmon.engine.events import EpochEnd
from kmon.engine.log import run_rows, run_scan, runs_index
from kmon.engine.log.indexed_runs import MISSING, NOT_A_LOG, all_runs
from kmon.engine.log.run_rows import RowReader
from kmon.engine.log.run_scan import RunScanner


def counting(monkeypatch, module, name: str) -> list:
    """Count the calls of ``module.name`` (the paths or nothing it was called with)."""
    calls: list = []
    real = getattr(module, name)

    def spy(*args, **kwargs):
        calls.append(args[0] if args else None)
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, spy)
    return calls


def statuses(runs) -> list[tuple[str, str]]:
    return [(run.run_id, run.status) for run in runs]


def test_a_scan_finds_what_all_runs_finds(tmp_path):
    gone = dead_pid()
    write_log(tmp_path / "a" / "ok-run.jsonl", pid=gone, t=1000, end="ok", epochs=2)
    write_log(tmp_path / "b" / "stale-run.jsonl", pid=gone, t=2000, epochs=1)
    write_this_process(tmp_path / "c" / "live-run.jsonl", t=3000)
    write_log(tmp_path / "a" / "gone-run.jsonl", pid=gone, t=4000, end="ok")
    (tmp_path / "a" / "gone-run.jsonl").unlink()
    write_log(tmp_path / "b" / "junk-run.jsonl", pid=gone, t=5000, end="ok")
    (tmp_path / "b" / "junk-run.jsonl").write_text("no longer a kmon log\n")
    write_log(tmp_path / "runs" / "unindexed.jsonl", pid=gone, t=500, end="failed")
    runs_index.prune(lambda entry: entry.run_id == "unindexed")  # an older kmon's log
    scanner = RunScanner(tmp_path / "runs")
    found = statuses(scanner.scan())
    assert found == statuses(all_runs(tmp_path / "runs")[0])
    assert dict(found) == {
        "unindexed": "failed",
        "ok-run": "ok",
        "stale-run": "stale",
        "live-run": "running",
        "gone-run": MISSING,
        "junk-run": NOT_A_LOG,
    }
    assert statuses(scanner.scan()) == found  # from what it kept: the same


def test_a_scan_rereads_only_changed_logs_and_running_runs(tmp_path, monkeypatch):
    gone = dead_pid()
    for n in range(3):
        write_log(tmp_path / f"ended-{n}.jsonl", pid=gone, t=1000 + n, end="ok")
    write_log(tmp_path / "stale.jsonl", pid=gone, t=2000, epochs=1)
    write_this_process(tmp_path / "live.jsonl", t=3000)
    reads = counting(monkeypatch, run_scan, "read_run")
    index_reads = counting(monkeypatch, run_scan, "read_index")
    scanner = RunScanner(tmp_path)
    scanner.scan()
    assert len(reads) == 5 and len(index_reads) == 1
    reads.clear()
    scanner.scan()
    assert reads == [tmp_path / "live.jsonl"]  # its process may end without a write
    assert len(index_reads) == 1  # the index did not change
    with open(tmp_path / "stale.jsonl", "a") as log:
        log.write(EpochEnd(epoch=1, logs={"loss": 0.5}).to_json() + "\n")
    reads.clear()
    runs = {run.run_id: run for run in scanner.scan()}
    assert sorted(reads) == [tmp_path / "live.jsonl", tmp_path / "stale.jsonl"]
    assert runs["stale"].info.epochs == 2
    write_log(tmp_path / "new.jsonl", pid=gone, t=4000, end="failed")
    (tmp_path / "ended-0.jsonl").unlink()
    reads.clear()
    runs = {run.run_id: run for run in scanner.scan()}
    assert len(index_reads) == 2  # the new run's entry
    assert sorted(reads) == [tmp_path / "live.jsonl", tmp_path / "new.jsonl"]
    assert runs["new"].status == "failed" and runs["ended-0"].status == MISSING


def test_rows_asked_for_first_are_digested_first_within_the_budget(tmp_path, monkeypatch):
    gone = dead_pid()
    for n in range(4):
        write_log(tmp_path / f"r{n}.jsonl", pid=gone, t=1000 + n, end="ok", epochs=2)
    runs = RunScanner(tmp_path).scan()
    # A clock that moves one second a reading: the budget of 1.5 s lets one log
    # through (the deadline is read once, then once before each log).
    clock = itertools.count()
    reader = RowReader()
    with monkeypatch.context() as patch:
        patch.setattr(run_rows, "_cpu_time", lambda: float(next(clock)))
        rows = reader.read(runs, budget=1.5, first={tmp_path / "r2.jsonl"})
    assert [row.run_id for row in rows] == ["r0", "r1", "r2", "r3"]  # in the runs' order
    assert [row.complete for row in rows] == [False, False, True, False]
    assert reader.deferred == 3
    assert rows[2].best_val_loss is None and rows[2].last_loss == 1.0
    assert rows[0].epochs_done == 2 and rows[0].last_loss is None  # the ends' values only
    rows = reader.read(runs, budget=None)
    assert all(row.complete for row in rows) and reader.deferred == 0 and reader.changed
    again = reader.read(runs, budget=None)
    assert again == rows and not reader.changed  # nothing changed: nothing to show


def test_a_first_scan_reads_only_the_first_runs_logs(tmp_path, monkeypatch):
    gone = dead_pid()
    for n in range(6):
        write_log(tmp_path / "indexed" / f"run-{n}.jsonl", pid=gone, t=1000 + n, end="ok")
    write_log(tmp_path / "runs" / "unindexed.jsonl", pid=gone, t=1002.5, end="failed")
    runs_index.prune(lambda entry: entry.run_id == "unindexed")  # an older kmon's log
    reads = counting(monkeypatch, run_scan, "read_run")
    scanner = RunScanner(tmp_path / "runs")
    first, total = scanner.scan_first(3)
    # The full scan's last three, newest first; its count; three logs of the six
    # indexed read, and the folder's one (its start is in its log only).
    assert total == 7
    assert [run.run_id for run in first] == ["run-5", "run-4", "run-3"]
    assert sorted(path.name for path in reads) == [
        "run-3.jsonl",
        "run-4.jsonl",
        "run-5.jsonl",
        "unindexed.jsonl",
    ]
    assert statuses(first) == statuses(scanner.scan())[::-1][:3]
    assert [run.run_id for run in scanner.scan_first(4)[0]][3] == "unindexed"
    assert statuses(scanner.scan_first(10)[0]) == statuses(scanner.scan())[::-1]
