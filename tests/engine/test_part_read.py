"""A replay with a worker process reading the log's later part
(engine/log/part_read.py) gives exactly the state and the report one reader gives:
on a real fit's log and on an odd one, with the seam on and around garbage,
invalid, unknown and newer-schema lines and a key-set change; and a worker that
dies, stalls or cannot start leaves the replay reading the rest itself.

The logs are small: the worker is forced on (``parallel_bytes=1``), its pieces
made small and the seam placed by hand.
"""

from __future__ import annotations

import os
import select
import signal
import time

import pytest
from fit_logs import write_tiny_fit_log
from test_fast_decode import _snapshot

from kmon.engine.log import part_read, part_worker
from kmon.engine.log.eventlog import read_events
from kmon.engine.log.fast_decode import as_batch
from kmon.engine.log.part_read import StoredLines
from kmon.engine.log.sources import LogFileSource
from kmon.engine.view.state import RunState

#: One reader: no log is this big.
ONE_READER = 1 << 62


def _drained(source: LogFileSource) -> RunState:
    """``source`` read to its end as the monitor reads it, drain by drain, folded."""
    state = RunState()
    source.has_events()
    while source.running:
        state.apply_all(source.drain())
    return state


def _replay(path, *, seam: int | None = None) -> tuple[str, object, object]:
    """The log as the monitor folds it, drain by drain: its state (as text), its
    report, and its worker. ``seam``: the worker's part starts at this line
    (None: one reader)."""
    source = LogFileSource(path, parallel_bytes=ONE_READER if seam is None else 1)
    worker = source.worker
    state = RunState()
    if source.has_events():
        while source.running:
            state.apply_all(source.drain())
    assert source.worker is None  # read to its end, or never started
    return _snapshot(state), source.report, worker


@pytest.fixture
def seams(monkeypatch):
    """Place the worker's part at a chosen line (``seams.at = N``), in pieces of
    64 KiB (several pieces, runs cut between them); count the runs that came as
    columns and those whose lines were read from the file again."""

    class Seams:
        at = 0
        stored = 0
        """Runs that came as columns, their lines left in the file."""
        stored_reads = 0
        """Those whose lines were read from the file again."""

    chosen = Seams()

    def split_point(path, size):
        with open(path, "rb") as handle:
            starts = [0]
            for line in handle:
                starts.append(starts[-1] + len(line))
        return starts[chosen.at]

    reread = part_read.StoredLines.lines

    def lines(self):
        if self._lines is None:
            chosen.stored_reads += 1
        return reread(self)

    unpack = part_read.unpack

    def unpacked(path, packed):
        events = unpack(path, packed)
        chosen.stored += sum(isinstance(getattr(e, "lines", None), StoredLines) for e in events)
        return events

    monkeypatch.setattr(part_read, "split_point", split_point)
    monkeypatch.setattr(part_read, "unpack", unpacked)
    monkeypatch.setattr(part_read, "PIECE_BYTES", 64 * 1024)
    monkeypatch.setattr(part_read.StoredLines, "lines", lines)
    return chosen


@pytest.fixture(scope="module")
def fit_log(tmp_path_factory):
    """A real fit's log: 3 epochs of 250 batches, with validation."""
    return write_tiny_fit_log(tmp_path_factory.mktemp("fit") / "run.jsonl", run_end=True)


def _line_of(path, text: str) -> int:
    """The index of the first line containing ``text``."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return next(index for index, line in enumerate(lines) if text in line)


def test_a_real_fits_log_read_with_a_worker_folds_to_one_readers_state(fit_log, seams):
    expected, report, _ = _replay(fit_log)
    assert report.clean
    epoch_1 = _line_of(fit_log, '"type":"epoch_start","t"') + 260
    for seams.at in (3, epoch_1, epoch_1 + 100):
        state, worker_report, worker = _replay(fit_log, seam=seams.at)
        assert state == expected
        assert worker_report == report
        assert worker.done and not worker.failed
    # The worker's runs folded from the columns it sent; only the fit's first
    # run, whose keys the Heads board had not seen (it reads such a run's
    # lines), was read again, when the seam came before it.
    assert seams.stored >= 6 and seams.stored_reads == 1


def test_the_worker_is_used(fit_log, seams):
    seams.at = 5
    source = LogFileSource(fit_log, parallel_bytes=1)
    worker = source.worker
    assert worker is not None and worker.start > 0
    _drained(source)
    assert worker.done and not worker.failed
    assert worker.lines > 700  # the worker read the epochs


def test_a_drain_hands_out_a_few_pieces_at_most(fit_log, seams, monkeypatch):
    """A worker far ahead (its pieces all in the pipe) has them handed out a few a
    drain, keys and frames between them, as the budget has them."""
    monkeypatch.setattr(part_read, "PIECES_AT_ONCE", 2)
    monkeypatch.setattr(part_read, "PIECE_BYTES", 2048)  # many pieces, a pipe holds them
    received = []
    receive = part_read.WorkerPart._receive

    def counted(self):
        piece = receive(self)
        received[-1] += piece is not None
        return piece

    monkeypatch.setattr(part_read.WorkerPart, "_receive", counted)
    seams.at = 3
    source = LogFileSource(fit_log, parallel_bytes=1)
    source.has_events()
    source.worker.launch()
    source.worker.go()  # it reads only once told to (the replay: after its first frame)
    time.sleep(1.5)  # it read its part: its pieces wait to be taken
    while source.running:
        received.append(0)
        source.drain()
    assert sum(received) > 20 and max(received) == 2


def _odd_log(tmp_path, stream) -> tuple:
    """A finished run whose second epoch has garbage, an invalid batch, an event of
    an unknown type, a newer schema's batch and a key-set change amid its batch
    lines, and whose last line is unfinished."""
    stream.run_start("odd.py").fit_start(epochs=3, steps=600)
    stream.epoch_start()
    for step in range(300):
        stream.batch({"loss": 1.0 / (1 + step), "acc": 0.5}, {"loss": 0.4 + step % 3})
    stream.epoch_end({"loss": 0.4}).epoch_start()
    for step in range(600):
        logs = {"loss": 0.5 + step % 7, "acc": 0.25}
        if 200 <= step < 215:
            logs = {"loss": 2.0}  # another key set for a few batches
        stream.batch(logs, {"loss": 0.3 + step % 5} if step != 450 else None)
    stream.epoch_end({"loss": 0.3}).epoch_start()
    for _ in range(200):
        stream.batch({"loss": 0.25, "acc": 0.75}, {"loss": 0.25})
    lines = list(stream.epoch_end({"loss": 0.2}).run_end().lines())
    at = {name: _index(lines, f'"epoch":1,"step":{step},') for name, step in ODD.items()}
    lines[at["garbage"]] = "this is not JSON {"
    lines[at["invalid"]] = lines[at["invalid"]].replace('"step":120', '"step":"x"')
    lines[at["newer"]] = lines[at["newer"]].replace('{"v":1,', '{"v":2,', 1)
    lines[at["unknown"]] = '{"v":1,"type":"from_the_future","t":1.0}'
    path = tmp_path / "odd.jsonl"
    text = "".join(f"{line}\n" for line in lines) + '{"v":1,"type":"bat'
    path.write_text(text, encoding="utf-8")
    return path, at


#: Where the odd lines go: the step of the second epoch's line each replaces.
ODD = {"garbage": 100, "invalid": 120, "newer": 300, "unknown": 380}


def _index(lines: list[str], text: str) -> int:
    return next(index for index, line in enumerate(lines) if text in line)


def test_an_odd_log_read_with_a_worker_folds_and_reports_as_one_reader(tmp_path, stream, seams):
    path, at = _odd_log(tmp_path, stream)
    expected, report, _ = _replay(path)
    assert report.garbage_lines == 2 and report.truncated_tail  # and the unfinished line
    assert report.invalid_events == {"batch": 1}
    assert report.unknown_types == {"from_the_future": 1}
    assert report.newer_schema == 1
    key_change = at["garbage"] + 101  # the second epoch's step 200
    count = len(path.read_bytes().splitlines())
    chosen = [1, count - 1, key_change - 1, key_change, key_change + 7, key_change + 15]
    for line in at.values():
        chosen += [line - 1, line, line + 1]
    for seams.at in chosen:
        state, worker_report, worker = _replay(path, seam=seams.at)
        assert worker.done and not worker.failed
        assert state == expected, f"seam at line {seams.at}"
        assert worker_report == report, f"seam at line {seams.at}"
    # The runs across the key-set change fold from their lines, read again.
    assert seams.stored > seams.stored_reads > 0


@pytest.mark.parametrize("when", ["at_once", "after_a_piece"])
@pytest.mark.parametrize("odd", [False, True], ids=["fit", "odd"])
def test_a_killed_worker_leaves_the_replay_reading_its_part(
    fit_log, tmp_path, stream, seams, monkeypatch, when, odd
):
    if odd:  # the odd lines in the part read here after the kill: their numbers
        fit_log, _ = _odd_log(tmp_path, stream)
    expected, report, _ = _replay(fit_log)
    seams.at = 40
    if when == "after_a_piece":
        # Killed once its first piece was taken: what it sent after that (still in
        # the pipe, from so small a log) is lost with it.
        receive = part_read.WorkerPart._receive

        def dying(self):
            if self.lines == 0:
                return receive(self)
            os.kill(self.pid, signal.SIGKILL)
            return None

        monkeypatch.setattr(part_read.WorkerPart, "_receive", dying)
    source = LogFileSource(fit_log, parallel_bytes=1)
    worker = source.worker
    if when == "at_once":
        os.kill(worker.pid, signal.SIGKILL)
    state = _drained(source)
    assert worker.failed
    assert worker.lines == 0 if when == "at_once" else worker.lines > 0
    assert _snapshot(state) == expected
    assert source.report == report


def test_a_stalled_worker_is_ended_and_its_part_read_here(fit_log, seams, monkeypatch):
    expected, report, _ = _replay(fit_log)
    monkeypatch.setattr(part_read, "STALL_SECONDS", 0.3)
    seams.at = 40
    source = LogFileSource(fit_log, parallel_bytes=1)
    worker = source.worker
    worker.launch()
    os.kill(worker.pid, signal.SIGSTOP)
    state = _drained(source)
    assert worker.failed
    assert worker._process.poll() is not None  # ended, not left stopped
    assert _snapshot(state) == expected
    assert source.report == report


def test_a_worker_that_cannot_start_leaves_one_reader(fit_log, seams, monkeypatch):
    expected, report, _ = _replay(fit_log)
    monkeypatch.setattr(part_read.sys, "executable", "/nonexistent/python")
    seams.at = 40
    state, worker_report, worker = _replay(fit_log, seam=40)
    assert worker.failed and not worker.launched
    assert state == expected and worker_report == report


def test_a_small_log_gets_no_worker(fit_log):
    assert fit_log.stat().st_size < part_read.PARALLEL_BYTES
    assert LogFileSource(fit_log).worker is None


def test_a_run_a_worker_read_gives_the_same_lines_as_one_reader(fit_log, seams):
    """What reads a run's lines one by one (a multi-head board, the fold's other
    ways) gets the lines one reader gives, whether at hand or read again."""
    events, _ = read_events(fit_log)
    batches = [event for event in events if event.type == "batch"]
    seams.at = 3
    source = LogFileSource(fit_log, parallel_bytes=1)
    source.has_events()
    runs = []
    while source.running:
        runs += [event for event in source.drain() if event.type == "batch_run"]
    stored = [run for run in runs if isinstance(run.lines, StoredLines)]
    assert stored
    run = stored[0]
    ends = [run.lines[0], run.lines[-1], *run.lines[-64:]]
    assert seams.stored_reads == 0  # its ends are at hand
    whole = list(run.lines)
    assert list(map(as_batch, ends)) == list(map(as_batch, [whole[0], whole[-1], *whole[-64:]]))
    read = [batch for run in runs for batch in run.events()]
    assert read == batches



def test_the_worker_starts_at_the_first_line_after_its_share(tmp_path):
    log = tmp_path / "lines.jsonl"
    log.write_bytes(b"".join(b"%d %s\n" % (index, b"x" * (index % 50)) for index in range(5000)))
    size = log.stat().st_size
    start = part_read.split_point(log, size)
    data = log.read_bytes()
    assert data[start - 1 : start] == b"\n"
    assert 0 <= start - size * (1 - part_read.WORKER_SHARE) <= 60
    # No line end near the split: no worker.
    one_line = tmp_path / "one.jsonl"
    one_line.write_bytes(b"x" * (6 << 20) + b"\n")
    assert part_read.split_point(one_line, one_line.stat().st_size) is None


def test_the_worker_starts_as_the_log_opens_and_reads_after_the_first_frame(
    fit_log, seams
):
    """Started as the replay opens the log, its start overlaps the monitor's; it
    reads nothing before the drain after the first frame's, which its reading put
    off."""
    seams.at = 5
    source = LogFileSource(fit_log, parallel_bytes=1)
    worker = source.worker
    assert worker.launched
    source.has_events()
    assert source.drain()  # the first frame's events
    ready, _, _ = select.select([worker._pipe], [], [], 1.0)
    assert not ready  # waiting, not reading
    assert source.drain() == []  # the frame is drawn meanwhile; the worker goes
    ready, _, _ = select.select([worker._pipe], [], [], 20.0)
    assert ready
    source.close()
    assert worker._process.poll() is not None


def test_the_replays_own_runs_keep_only_their_ends_and_fold_to_the_same_state(tmp_path, stream):
    """A one-reader replay frees each long run's lines but its ends as it reads
    them (as the worker does): its runs hold the first and last lines only, fold
    to the one-by-one state, and give every line, read again, when asked; odd
    stretches (a key set changing mid-epoch, values missing) keep their lines."""
    stream.run_start("long.py").fit_start(epochs=2, steps=3000)
    stream.epoch_start()
    for step in range(3000):
        stream.batch({"loss": 1.0 / (1 + step), "acc": 0.5}, {"loss": 0.5 + step % 7})
    stream.epoch_end({"loss": 0.4}).epoch_start()
    for step in range(3000):
        logs = {"loss": 0.3, "acc": 0.5} if step < 1500 else {"acc": 0.5, "loss": 2.0, "x": 1}
        stream.batch(logs, {"loss": 0.25} if step % 5 else None)
    path = stream.epoch_end({"loss": 0.4}).run_end().write(tmp_path / "long.jsonl")
    events, report = read_events(path)
    one_by_one = RunState()
    for event in events:
        one_by_one.apply(event)
    source = LogFileSource(path, parallel_bytes=ONE_READER, chunk_bytes=64 << 10)
    state, runs = RunState(), []
    source.has_events()
    while source.running:
        drained = source.drain()
        runs += [event for event in drained if event.type == "batch_run"]
        state.apply_all(drained)
    assert _snapshot(state) == _snapshot(one_by_one)
    assert source.report == report
    stored = [run for run in runs if isinstance(run.lines, StoredLines)]
    assert sum(len(run.lines) for run in stored) > 2500  # the first epoch's, but its first chunk's
    assert all(len(run.lines._tail) <= 2 * part_worker.SHORT_RUN for run in stored)
    assert any(isinstance(run.lines, list) and len(run.lines) > 1000 for run in runs)
    batches = [event for event in events if event.type == "batch"]
    lines = [line for run in runs for line in run.lines]
    assert [as_batch(line) for line in lines] == batches


def test_a_multi_head_models_own_runs_keep_their_lines(tmp_path, stream):
    """Runs logging several head losses keep every line (the Heads board checks
    their sum batch by batch): not read from the file a second time."""
    stream.run_start("heads.py").fit_start(epochs=1, steps=2000).epoch_start()
    for _ in range(2000):
        logs = {"loss": 0.9, "a_loss": 0.5, "b_loss": 0.4}
        stream.batch(logs, {"loss": 0.9, "a_loss": 0.5, "b_loss": 0.4})
    path = stream.epoch_end({"loss": 0.9}).run_end().write(tmp_path / "heads.jsonl")
    source = LogFileSource(path, parallel_bytes=ONE_READER, chunk_bytes=64 << 10)
    runs = []
    source.has_events()
    while source.running:
        runs += [event for event in source.drain() if event.type == "batch_run"]
    assert sum(len(run.lines) for run in runs) == 2000
    assert all(isinstance(run.lines, list) for run in runs)
