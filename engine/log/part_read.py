"""A long log's later part read in a worker process while a replay reads the rest.

One process reading a 1,000,000-batch log (190 MiB) spends about 1.4 s of CPU
reading and decoding it, besides the fold and the frames: a replay on one core
cannot show it whole in 1.5 s. :class:`LogFileSource
<kmon.engine.log.sources.LogFileSource>` starts a worker for the log's later
part when it opens a log of at least :data:`PARALLEL_BYTES` (:func:`start_part`),
reads the first part itself, and then hands out what the worker read.

The worker is a fresh interpreter (:mod:`~kmon.engine.log.part_worker`), not a
fork: a monitor's process has Textual's threads, and multiprocessing's spawn
re-imports the parent's ``__main__`` (a script, a benchmark) in the child. It
reads its part with the replay's own reader, so what it reads, skips and counts
is what one reader does, and writes back, a piece of :data:`PIECE_BYTES` of the
log at a time, length-prefixed pickles: the events other than batch lines as
they are, each run of batch lines as its columns, the bytes of the file it spans,
its count and its ends (its other lines are decoded from the file, in the
replay's process, when something asks for them: :class:`StoredLines`), how far
it got (the resume point, a line's start), its count of lines, and its report so
far.

It starts as the log opens and reads from the monitor's first frame on
(:meth:`WorkerPart.go`: a byte on its stdin).

A worker that cannot start, dies, or sends nothing for :data:`STALL_SECONDS` is
ended, and the replay reads on itself from the last resume point it got, so no
line is lost or read twice (:meth:`WorkerPart.fallback`).
"""

from __future__ import annotations

import os
import pickle
import select
import subprocess
import sys
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import replace

import msgspec

from kmon.engine.log.eventlog import EventLogReader, LogReadReport
from kmon.engine.log.fast_decode import BatchLine, BatchRun
from kmon.engine.log.part_worker import HEADER, RunEnds, gather

#: Logs of fewer bytes are read in one process: a worker's start (about 0.1-0.2 s
#: of a fresh interpreter's imports, on another core) pays only past this.
PARALLEL_BYTES = 48 << 20
#: The share of the log the worker reads (its later part): the replay's process
#: also folds every run and draws the frames, so it reads the smaller part.
WORKER_SHARE = 0.7
#: Bytes of the log the worker reads between two pieces it sends back.
PIECE_BYTES = 8 << 20
#: The most pieces handed out in one drain (64 MiB of the log, folded in about
#: 0.2 s), so that keys and frames come between drains as the budget has them.
PIECES_AT_ONCE = 8
#: A worker that sends nothing for this long while the replay waits for it is
#: ended and the rest of its part read here.
STALL_SECONDS = 2.0
#: How far past the split point a line's end is looked for.
_SEEK_BYTES = 4 << 20
_lines_decoder = msgspec.msgpack.Decoder(list[BatchLine])
_raw_decoder = msgspec.msgpack.Decoder(list[msgspec.Raw])
_line_decoder = msgspec.msgpack.Decoder(BatchLine)


class StoredLines(Sequence):
    """The lines of a run a worker read: its first line and its last few at hand,
    every line decoded from the file (``extent``) when first asked for one
    between them, as the replay's own reader decodes it.

    Args:
        path: the log.
        extent: the bytes of the run, from its first line's start to its last
            line's end.
        count: its lines.
        ends: its first line and its last lines (up to
            :data:`~kmon.engine.log.part_worker.TAIL_LINES`): as msgpack (a
            worker's run), or decoded (a run of the replay's own part).
    """

    __slots__ = ("_count", "_ends", "_extent", "_lines", "_path", "_tail")

    def __init__(self, path, extent: tuple[int, int], count: int, ends: bytes | list) -> None:
        self._path, self._extent, self._count = path, extent, count
        self._ends: bytes | None = ends if isinstance(ends, bytes) else None
        self._tail: list = ends if isinstance(ends, list) else []
        self._lines: list | None = None

    def __len__(self) -> int:
        return self._count

    def _at_hand(self) -> list:
        """The lines at hand, each decoded when first asked for (most runs are
        asked for their first and last only: a few µs, where the 65 took 0.1 ms)."""
        if self._ends is not None:
            self._tail, self._ends = _raw_decoder.decode(self._ends), None
        return self._tail

    def _kept(self, at: int):
        line = self._tail[at]
        if type(line) is msgspec.Raw:
            line = self._tail[at] = _line_decoder.decode(line)
        return line

    def __getitem__(self, index):
        if self._lines is not None:
            return self._lines[index]
        count = self._count
        kept = self._at_hand()
        first_kept = count - (len(kept) - 1)  # the index of kept[1]
        if isinstance(index, slice):
            chosen = range(count)[index]
            if not chosen or (chosen[0] >= first_kept and chosen[-1] >= first_kept):
                return [self._kept(1 + at - first_kept) for at in chosen]
            return self.lines()[index]
        at = index + count if index < 0 else index
        if at == 0:
            return self._kept(0)
        if first_kept <= at < count:
            return self._kept(1 + at - first_kept)
        return self.lines()[index]

    def __iter__(self):
        return iter(self.lines())

    def lines(self) -> list:
        """Every line, decoded from the file as the replay's reader decodes it."""
        if self._lines is None:
            start, stop = self._extent
            reader = EventLogReader(self._path, batch_runs=True, start=start, stop=stop)
            reader.columns = False
            lines: list = []
            for event in reader.read_all():
                if isinstance(event, BatchRun):
                    lines += event.lines
            self._lines = lines
        return self._lines


def unpack(path, packed: list) -> list:
    """The events of a piece the worker sent, its runs as
    :class:`~kmon.engine.log.fast_decode.BatchRun`."""
    events = []
    for item in packed:
        if type(item) is not tuple:
            events.append(item)
        elif item[0] == "lines":
            events.append(BatchRun(_lines_decoder.decode(item[1])))
        else:
            _, extent, count, blocks, ends = item
            run = BatchRun(StoredLines(path, extent, count, ends), blocks)  # type: ignore[arg-type]
            run.extent = extent
            events.append(run)
    return events


def keep_ends(events: list, more: list) -> None:
    """Append ``more``, what the replay read of its own part, to ``events``: each run's
    lines but its ends let go while in the caches (the worker's way, ``gather``;
    holding them cost the reading about a tenth more CPU), :func:`settle` makes the
    runs again. A run logging several head losses keeps its lines (the Heads board
    checks their sum batch by batch: they would be read again from the file)."""
    for event in more:
        if type(event) is not BatchRun or not any(
            sum(key.endswith("loss") for key in block.kind[0]) > 2 for block in event.blocks
        ):
            gather(events, [event])
        elif events and type(events[-1]) is BatchRun and isinstance(events[-1].lines, list):
            events[-1].join(event)  # a run a chunk's end cut in two
        else:
            events.append(event)


def settle(path, events: list) -> None:
    """The runs :func:`keep_ends` kept in ``events``, as :class:`BatchRun`: their lines,
    or where only their ends were kept, a :class:`StoredLines` of them."""
    for index, ends in enumerate(events):
        if isinstance(ends, RunEnds):
            lines = ends.lines
            if len(lines) != ends.count:
                lines = StoredLines(path, ends.extent, ends.count, lines)  # type: ignore[arg-type]
            events[index] = run = BatchRun(lines, ends.blocks)  # type: ignore[arg-type]
            run.extent = ends.extent


def merged_report(first: LogReadReport, later: LogReadReport, lines: int) -> LogReadReport:
    """One reader's report of a log from the reports of its two parts: ``first``'s
    (``lines`` lines) and ``later``'s, whose line numbers start after them."""
    report = replace(
        first,
        unknown_types=dict(first.unknown_types),
        invalid_events=dict(first.invalid_events),
        damaged=first.damaged + later.damaged,
        examples=list(first.examples),
    )
    report.garbage_lines += later.garbage_lines
    report.long_lines += later.long_lines
    report.newer_schema += later.newer_schema
    report.truncated_tail = later.truncated_tail
    for name, count in later.unknown_types.items():
        report.unknown_types[name] = report.unknown_types.get(name, 0) + count
    for name, count in later.invalid_events.items():
        report.invalid_events[name] = report.invalid_events.get(name, 0) + count
    for example in later.examples:
        number, _, why = example.removeprefix("line ").partition(": ")
        report.note(int(number) + lines, why)
    return report


def split_point(path, size: int) -> int | None:
    """Where the worker's part starts: the start of the first line after
    :data:`WORKER_SHARE` of the log from its end; None when none is found near."""
    with open(path, "rb") as handle:
        at = int(size * (1 - WORKER_SHARE))
        handle.seek(at)
        while at < size * (1 - WORKER_SHARE) + _SEEK_BYTES:
            data = handle.read(64 << 10)
            if not data:
                return None
            end = data.find(b"\n")
            if end >= 0:
                return at + end + 1
            at += len(data)
        return None


class WorkerPart:
    """The worker process reading a log's part from ``start`` to its end, as the
    replay's process sees it.

    Args:
        path: the log.
        start: the first byte of the worker's part (a line's start).
        size: the log's size when the replay opened it.
    """

    def __init__(self, path, start: int, size: int) -> None:
        self.path, self.start = os.path.abspath(path), start
        self.resume = start
        """Where a reader here goes on if the worker fails: a line's start after
        the last piece handed out."""
        self.skipping = False
        self.lines = 0
        """The worker's lines up to ``resume``."""
        self.report = LogReadReport()
        self.done = False
        self.failed = False
        self._heard: float | None = None
        """When the last piece came, or the replay first asked for one."""
        self._size = size
        self._process: subprocess.Popen | None = None
        self.close: Callable[[], None] = lambda: None
        """End the worker (if started and still running) and wait for it."""

    @property
    def launched(self) -> bool:
        """The worker process was started (:meth:`launch`)."""
        return self._process is not None

    def launch(self) -> None:
        """Start the worker process (the replay does as it opens the log: its
        start overlaps the monitor's); it reads nothing until :meth:`go`. Reading
        at once, it put the first frame off; a nice value did not help, since
        each session (``start_new_session``) is a Linux autogroup, as heavy as
        the monitor's whatever its nice values (docs/benchmarks.md, sixth round)."""
        if self._process is not None or self.failed:
            return
        try:
            self._process = subprocess.Popen(
                [
                    *(sys.executable, "-m", "kmon.engine.log.part_worker"),
                    *(self.path, str(self.start), str(self._size), str(PIECE_BYTES)),
                ],
                stdin=subprocess.PIPE,  # go(): a byte, when it may read
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                start_new_session=True,  # a Ctrl-C or Ctrl-Z at the terminal is the monitor's
            )
        except OSError:  # no interpreter to start: the replay reads the part itself
            self.failed = True
            return
        self._pipe = self._process.stdout.fileno()  # type: ignore[union-attr]
        # Ended when closed, when dropped, or when the monitor's process exits (a
        # replay quit halfway): none outlives it.
        self.close = weakref.finalize(self, _end, self._process)

    @property
    def pid(self) -> int:
        return self._process.pid

    def go(self) -> None:
        """Let the worker read: at the drain after the first frame's, or at the
        first :meth:`take`."""
        process = self._process
        if process is None or process.stdin is None or process.stdin.closed:
            return
        try:
            process.stdin.write(b"g")
            process.stdin.close()
        except OSError:  # it is gone: take() finds out
            pass

    def take(self, deadline: float) -> list:
        """The events of the pieces there are (the first waited for until
        ``deadline``; at most :data:`PIECES_AT_ONCE`, and no more once the
        deadline passed); [] when none came. Sets ``done`` after the last piece,
        ``failed`` when the worker died or stalled."""
        events: list = []
        self.launch()
        self.go()
        if self.failed:
            return events
        if self._heard is None:
            self._heard = time.monotonic()
        taken = 0
        while not (self.done or self.failed):
            if taken >= PIECES_AT_ONCE or (taken and time.monotonic() >= deadline):
                break  # the fold of these, and a frame, before more
            # With a piece in hand, only what is here already: the replay folds
            # and draws it while the worker reads on.
            wait = 0.0 if events else max(deadline - time.monotonic(), 0.0)
            ready, _, _ = select.select([self._pipe], [], [], wait)
            if not ready:
                if time.monotonic() - self._heard > STALL_SECONDS:
                    self.failed = True
                if events or time.monotonic() >= deadline:
                    break
                continue
            piece = self._receive()
            if piece is None:
                self.failed = True
                break
            self._heard = time.monotonic()
            taken += 1
            events += unpack(self.path, piece["events"])
            self.resume, self.skipping = piece["resume"], piece["skipping"]
            self.lines, self.report = piece["lines"], piece["report"]
            self.done = piece["done"]
        if self.done or self.failed:
            self.close()
        return events

    def _receive(self) -> dict | None:
        """The next piece; None when the worker is gone or sent garbage."""
        try:
            header = self._read_exactly(HEADER.size)
            if header is None:
                return None
            body = self._read_exactly(HEADER.unpack(header)[0])
            return pickle.loads(body) if body is not None else None
        except (OSError, pickle.UnpicklingError, EOFError, ValueError, TypeError):
            return None

    def _read_exactly(self, count: int) -> bytes | None:
        chunks, left = [], count
        while left:
            chunk = os.read(self._pipe, min(left, 1 << 20))
            if not chunk:
                return None
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)

    def fallback(self, first: EventLogReader) -> EventLogReader:
        """A reader here for the rest of the worker's part, from the last piece
        handed out on, its line count and report going on from ``first``'s (the
        reader of the part before the worker's)."""
        reader = EventLogReader(self.path, batch_runs=True, start=self.resume)
        reader.report = merged_report(first.report, self.report, first._lines)
        reader._lines = first._lines + self.lines
        reader._skipping = self.skipping
        return reader


def _end(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.kill()
    process.wait()
    for pipe in (process.stdin, process.stdout):
        if pipe is not None:
            try:
                pipe.close()
            except OSError:  # its unsent byte: the worker is gone
                pass


def start_part(path, size: int, min_bytes: int | None = None) -> WorkerPart | None:
    """A worker for the later part of a log of ``size`` bytes; None when the log
    is smaller than ``min_bytes`` (None: :data:`PARALLEL_BYTES`), has no line end
    near the split, or no worker could start (then one process reads it all)."""
    if size < (PARALLEL_BYTES if min_bytes is None else min_bytes) or not sys.executable:
        return None
    if os.name != "posix":  # select() on a pipe is POSIX's
        return None
    try:
        start = split_point(path, size)
        if start is None or start >= size:
            return None
        return WorkerPart(path, start, size)
    except OSError:
        return None
