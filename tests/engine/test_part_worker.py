"""The replay's worker process (engine/log/part_worker.py) keeps of each run only
what it sends, read a little at a time, and sends what one read of the whole
piece would: the same runs, counts, extents, columns and ends."""

from __future__ import annotations

import subprocess
import sys

import msgspec
import pytest
from fit_logs import write_tiny_fit_log

from kmon.engine.log.eventlog import EventLogReader
from kmon.engine.log.fast_decode import BatchLine, BatchRun, as_batch
from kmon.engine.log.part_worker import SHORT_RUN, TAIL_LINES, RunEnds, gather


@pytest.fixture(scope="module")
def fit_log(tmp_path_factory):
    """A real fit's log: 3 epochs of 250 batches, with validation."""
    return write_tiny_fit_log(tmp_path_factory.mktemp("fit") / "run.jsonl", run_end=True)


def _read(path, read_bytes: int) -> tuple[list, list]:
    """The log read as the worker reads it, ``read_bytes`` at a time: the piece
    gathered (runs as :class:`RunEnds`), and the same reads' events kept whole."""
    reader = EventLogReader(path, batch_runs=True)
    reader.extents = True
    piece: list = []
    whole: list = []
    while events := reader.read_new(read_bytes):
        whole += events
        gather(piece, events)
    return piece, whole


def test_the_worker_keeps_only_a_runs_ends_while_it_reads(fit_log, monkeypatch):
    kept = []
    add = RunEnds.add

    def counted(self, run):
        add(self, run)
        kept.append(len(self.lines))

    monkeypatch.setattr(RunEnds, "add", counted)
    piece, _ = _read(fit_log, 4096)  # a dozen lines a read
    runs = [item for item in piece if isinstance(item, RunEnds)]
    assert max(run.count for run in runs) >= 250
    assert len(kept) > 4 * len(runs)  # each run came in many reads
    assert max(kept) <= 2 * SHORT_RUN + 1 + 4096 // 100


def test_a_piece_read_a_little_at_a_time_is_sent_as_one_read_of_it(fit_log):
    """Consecutive runs join; each run's count, extent, columns and ends are those
    of the run one read of the whole log gives."""
    piece, _ = _read(fit_log, 4096)
    reader = EventLogReader(fit_log, batch_runs=True)
    reader.extents = True
    once = reader.read_all()
    assert [type(item) for item in piece] == [
        RunEnds if isinstance(event, BatchRun) else type(event) for event in once
    ]
    for item, event in zip(piece, once):
        if not isinstance(event, BatchRun):
            assert item == event
            continue
        assert (item.count, item.extent) == (len(event), event.extent)
        assert sum(block.count for block in item.blocks) == len(event)
        packed = item.packed()
        assert packed[0] == ("run" if len(event) >= SHORT_RUN else "lines")
        if packed[0] == "run":
            ends = msgspec.msgpack.Decoder(list[BatchLine]).decode(packed[4])
            lines = event.lines
            expected = [lines[0], *lines[-(TAIL_LINES - 1) :]]
            assert list(map(as_batch, ends)) == list(map(as_batch, expected))


def test_the_worker_reads_its_columns_without_numpy(fit_log):
    """The reader makes a run's columns with no numpy: the worker never imports it
    (0.05-0.1 s of a fresh interpreter's CPU)."""
    script = (
        "import sys\n"
        "from kmon.engine.log import part_worker\n"
        "from kmon.engine.log.eventlog import EventLogReader\n"
        "reader = EventLogReader(sys.argv[1], batch_runs=True)\n"
        "runs = [e for e in reader.read_all() if e.type == 'batch_run']\n"
        "assert runs and all(run.blocks for run in runs)\n"
        "print('numpy' in sys.modules)\n"
    )
    found = subprocess.run(
        [sys.executable, "-c", script, str(fit_log)], capture_output=True, text=True, check=True
    )
    assert found.stdout.strip() == "False"
