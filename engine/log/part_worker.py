"""The worker process that reads a long log's later part for a replay.

Started by :class:`~kmon.engine.log.part_read.WorkerPart` as ``python -m
kmon.engine.log.part_worker PATH START SIZE PIECE_BYTES``, it imports only the
reader (about 0.1 s), waits for a byte on its stdin (the replay's first frame is
drawn), then reads from ``START`` to the end with the replay's own reader
(:class:`~kmon.engine.log.eventlog.EventLogReader` in batch-run mode), and writes
back on its stdout, a piece of ``PIECE_BYTES`` of the log at a time,
length-prefixed pickles (:data:`HEADER`):

- the events other than batch lines, as they are;
- each run of batch lines as its columns
  (:class:`~kmon.engine.log.column_decode.Columns`: float arrays and lists, quick
  to pickle), the bytes of the file it spans, its count, and its first and last
  :data:`TAIL_LINES` lines (msgpack): all the column fold reads of a run
  (:mod:`kmon.engine.view.column_fold`). Short runs come whole;
- how far it got (the resume point, a line's start), its count of lines, and
  its report so far.

It reads :data:`READ_BYTES` at a time and keeps of each run only what it sends,
so a run's other lines are freed while still in the CPU's caches: holding a
piece's lines (8 MiB of the log, 40,000 lines of a dozen objects each) until it
was sent made every piece's structs take fresh pages, and its reading about a
tenth more CPU (docs/benchmarks.md, seventh round).
"""

from __future__ import annotations

import os
import pickle
import queue
import struct
import sys
import threading

import msgspec

from kmon.engine.log.eventlog import EventLogReader
from kmon.engine.log.fast_decode import BatchRun

#: Each piece's length before it.
HEADER = struct.Struct("<Q")
#: Lines kept of a run the worker read: its first and its last 64 (the pace
#: window, the most of a run's lines the column fold reads: more are read again).
TAIL_LINES = 65
#: Runs shorter than this come back whole (the fold takes them line by line).
SHORT_RUN = 128
#: Bytes of the log read at a time: a few thousand lines, whose decoded structs
#: are freed (but for a run's ends) before the next are made.
READ_BYTES = 256 << 10
_encode = msgspec.msgpack.encode


class RunEnds:
    """A run of batch lines as the worker keeps it until it is sent: its extent,
    count and columns, and its lines while it is short, then its first and its
    last ``TAIL_LINES - 1`` only. Runs the reader handed out one after the other
    join into one, as the reader joins them within a read."""

    __slots__ = ("blocks", "count", "covered", "extent", "lines")
    type = "run_ends"

    def __init__(self) -> None:
        self.count = 0
        self.blocks: list = []
        self.lines: list = []
        self.extent: tuple[int, int] | None = None
        self.covered = 0
        """Its lines that its blocks (columns) cover."""

    def add(self, run: BatchRun) -> None:
        """Append ``run``'s lines."""
        if not self.count:
            self.extent = run.extent
        elif self.extent is not None and run.extent is not None:
            self.extent = (self.extent[0], run.extent[1])
        else:
            self.extent = None
        self.count += len(run)
        self.blocks += run.blocks
        self.covered += sum(block.count for block in run.blocks)
        self.lines += run.lines
        # Only a run its columns cover folds from its ends (column_fold).
        if self.extent is not None and len(self.lines) > 2 * SHORT_RUN and (
            self.covered == self.count
        ):
            # count > SHORT_RUN from here on: only the ends are sent.
            self.lines = [self.lines[0], *self.lines[-(TAIL_LINES - 1) :]]

    def packed(self) -> tuple:
        """The run as it is sent (``part_read.unpack`` reads it)."""
        lines = self.lines
        if self.count < SHORT_RUN or self.extent is None:
            return ("lines", _encode(lines))
        ends = _encode([lines[0], *lines[-(TAIL_LINES - 1) :]])
        return ("run", self.extent, self.count, self.blocks, ends)


def gather(piece: list, events: list) -> None:
    """Append ``events`` to ``piece``: each run of batch lines to a
    :class:`RunEnds` (one for consecutive runs), any other event as it is."""
    for event in events:
        if not isinstance(event, BatchRun):
            piece.append(event)
            continue
        if not piece or not isinstance(piece[-1], RunEnds):
            piece.append(RunEnds())
        piece[-1].add(event)


def _send_all(out, pieces: queue.SimpleQueue) -> None:
    """The sender thread: each piece as it comes (None: the end). A pipe holds 64
    KiB: the reading must not wait for the replay to take each piece."""
    while (body := pieces.get()) is not None:
        try:
            out.write(HEADER.pack(len(body)))
            out.write(body)
            out.flush()
        except OSError:  # the replay is gone (or closed the pipe): so is its worker
            os._exit(1)


def work(path: str, start: int, size: int, piece_bytes: int) -> None:
    """Read ``path`` from ``start`` to the end (``size`` bytes when the replay
    opened it), sending a piece of ``piece_bytes`` of the log at a time."""
    if not sys.stdin.buffer.read(1):  # the replay is gone before its first frame
        os._exit(0)
    reader = EventLogReader(path, batch_runs=True, start=start)
    reader.extents = True
    pieces: queue.SimpleQueue = queue.SimpleQueue()
    sender = threading.Thread(target=_send_all, args=(sys.stdout.buffer, pieces))
    sender.start()
    read_bytes = min(READ_BYTES, piece_bytes)
    while True:
        piece: list = []  # runs as RunEnds, other events as they are
        began = reader.offset
        while True:
            at = reader.offset
            events = [] if at >= size else reader.read_new(read_bytes)
            last = reader.offset >= size or reader.offset == at  # the end, or it shrank
            if last:
                events += reader.read_all()
            gather(piece, events)
            del events  # the lines RunEnds did not keep: freed while in the caches
            if last or reader.offset - began >= piece_bytes:
                break
        body = {
            "events": [item.packed() if isinstance(item, RunEnds) else item for item in piece],
            "resume": reader.offset - len(reader._partial),
            "skipping": reader._skipping,
            "lines": reader._lines,
            "report": reader.report,
            "done": last,
        }
        pieces.put(pickle.dumps(body, protocol=pickle.HIGHEST_PROTOCOL))
        if last:
            break
    pieces.put(None)
    sender.join()


if __name__ == "__main__":
    try:
        work(sys.argv[1], *map(int, sys.argv[2:5]))
    except (BrokenPipeError, KeyboardInterrupt):  # the replay is gone: so is its worker
        os._exit(1)
