"""The event log's forgiving reader, for finished and still-growing logs.

The writer lives in :mod:`kmon.engine.log.writer`; its names are imported here too,
where they always were.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from itertools import repeat
from pathlib import Path

from kmon.engine.events import (
    SCHEMA_VERSION,
    Event,
    InvalidEvent,
    UnknownEventType,
)
from kmon.engine.log.column_decode import columns_of, decoder_for
from kmon.engine.log.fast_decode import (
    BATCH_PREFIX,
    STRUCT_ERRORS,
    BatchRun,
    decode_line,
    decode_struct,
)
from kmon.engine.log.run_files import default_log_path  # noqa: F401

#: The writer's names, importable from here as they always were; imported when first
#: asked for (PEP 562), so a reader (a replay's first frame) does not import the
#: writer's modules (the runs index, process identities, threads).
_WRITER_NAMES = ("FLUSH_SECONDS", "LOG_TOPIC", "EventLogWriter", "LogFailure")


def __getattr__(name: str):
    if name in _WRITER_NAMES:
        from kmon.engine.log import writer

        return getattr(writer, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


#: A line longer than this is not a kmon event (the writer's longest lines are a
#: few KB): it is skipped and counted, and never held in memory whole.
MAX_LINE_BYTES = 1 << 20
#: The file is read this much at a time, whatever a caller asks for.
_READ_BYTES = 4 << 20
#: Examples of what was skipped a report keeps (with their line numbers).
_EXAMPLES = 3


@dataclass
class LogReadReport:
    """What a read skipped or found damaged, so a caller can warn instead of crash."""

    garbage_lines: int = 0
    """Lines that are not JSON, or not a kmon event at all."""
    unknown_types: dict[str, int] = field(default_factory=dict)
    """Events of a type this kmon does not know (a newer writer's), by type."""
    invalid_events: dict[str, int] = field(default_factory=dict)
    """Events of a known type that do not match the schema, by type."""
    long_lines: int = 0
    """Lines over ``MAX_LINE_BYTES``, skipped unread."""
    newer_schema: int = 0
    """Events read although they name a schema version above this kmon's."""
    truncated_tail: bool = False
    damaged: list[str] = field(default_factory=list)
    """Parts of the input that could not be read at all, one phrase each (an
    importer's: a TensorBoard events file corrupt partway)."""
    examples: list[str] = field(default_factory=list)
    """The first few lines skipped, each as ``line N: why``."""

    @property
    def skipped(self) -> int:
        return (
            self.garbage_lines
            + self.long_lines
            + sum(self.unknown_types.values())
            + sum(self.invalid_events.values())
        )

    @property
    def clean(self) -> bool:
        """Nothing was skipped and nothing was found damaged."""
        return not self.skipped and not self.damaged

    def note(self, line: int, why: str) -> None:
        if len(self.examples) < _EXAMPLES:
            self.examples.append(f"line {line}: {why}")

    def summary(self) -> str | None:
        """One line saying what was skipped (None when clean), e.g. ``skipped 2
        invalid batch event(s), 1 unreadable line(s) (first: line 7: batch: step is
        'x', not int >= 0)``; invalid events of several types are counted as ``5
        invalid events (3 batch, 2 epoch_end)``."""
        invalid = self.invalid_events
        if len(invalid) == 1:
            parts = [f"{count} invalid {name} event(s)" for name, count in invalid.items()]
        elif invalid:
            by_type = ", ".join(f"{count} {name}" for name, count in invalid.items())
            parts = [f"{sum(invalid.values())} invalid events ({by_type})"]
        else:
            parts = []
        if self.garbage_lines:
            parts.append(f"{self.garbage_lines} unreadable line(s)")
        if self.long_lines:
            parts.append(f"{self.long_lines} line(s) over {MAX_LINE_BYTES >> 20} MiB")
        if self.unknown_types:
            names = ", ".join(self.unknown_types)
            parts.append(
                f"{sum(self.unknown_types.values())} event(s) of unknown type ({names}: "
                "a newer kmon's?)"
            )
        sentences = []
        if parts:
            first = f" (first: {self.examples[0]})" if self.examples else ""
            sentences.append("skipped " + ", ".join(parts) + first)
        sentences += self.damaged
        if self.newer_schema:
            sentences.append(
                f"{self.newer_schema} event(s) name a newer schema version: read as "
                f"version {SCHEMA_VERSION}"
            )
        return "; ".join(sentences) or None


class EventLogReader:
    """Reads a log written by :class:`EventLogWriter`, possibly still growing.

    Garbage lines, lines over ``MAX_LINE_BYTES``, events that do not match the
    schema (see :mod:`kmon.engine.event_schema`) and events of unknown type (from a
    newer kmon) are skipped and counted in :attr:`report`. An incomplete last line
    is held back: the writer may still be finishing it. Call :meth:`read_new` again
    to get what was added since.

    Args:
        path: the log.
        batch_runs: hand out each run of consecutive batch lines as one
            :class:`~kmon.engine.log.fast_decode.BatchRun` (for a reader that only
            folds them, such as a replay: it skips making a ``Batch`` per line);
            False: one ``Batch`` event per line.
        start: the byte the reading starts at (a line's first: a replay's worker
            process reads a log's later part, :mod:`~kmon.engine.log.part_read`).
        stop: read no byte from here on (None: to the end).
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        batch_runs: bool = False,
        start: int = 0,
        stop: int | None = None,
    ) -> None:
        self.path = Path(path)
        self._batch_runs = batch_runs
        self._stop = stop
        self.extents = False
        """Batch-run mode: note on each run the bytes of the file its lines span
        (``BatchRun.extent``), for a run read again from the file later."""
        self.key_sets = batch_runs
        """Batch-run mode: decode each stretch of batch lines for its first line's
        key sets (:mod:`~kmon.engine.log.column_decode`), whose lines make their
        ``logs`` and ``values`` dicts on demand; False: a :class:`BatchLine` each
        (for a reader that reads every line's dicts)."""
        self.columns = batch_runs
        """Batch-run mode: make each stretch's columns as it is decoded (while its
        lines are in the CPU's caches: a fold reading them later, cold, took twice
        as long); False: not now (a replay's first frame does without numpy)."""
        self.report = LogReadReport()
        self._offset = start
        self._partial = b""
        self._skipping = False
        """In an over-long line (already counted): drop bytes until its newline."""
        self._lines = 0
        """Complete lines read so far."""

    @property
    def offset(self) -> int:
        """Bytes of the file read so far."""
        return self._offset

    def read_new(self, max_bytes: int = -1) -> list[Event]:
        """Events appended since the last call (at most ``max_bytes`` of the file,
        so a monitor can show a long log's first frame before reading it all)."""
        events: list[Event] = []
        with open(self.path, "rb") as handle:
            handle.seek(self._offset)
            left = max_bytes
            if self._stop is not None:
                room = max(self._stop - self._offset, 0)
                left = room if left < 0 else min(left, room)
            while left != 0:
                data = handle.read(_READ_BYTES if left < 0 else min(left, _READ_BYTES))
                if not data:
                    break
                self._offset += len(data)
                left = left - len(data) if left > 0 else left
                self._take(data, events)
        self.report.truncated_tail = bool(self._partial) or self._skipping
        return events

    def read_all(self) -> list[Event]:
        """Everything in the file now, counting an unfinished last line as garbage."""
        events = self.read_new()
        if self._partial:
            self._parse([self._partial], events)
        self._partial, self._skipping = b"", False
        return events

    def _take(self, data: bytes, events: list[Event]) -> None:
        """Parse the complete lines of ``data``; hold back its unfinished last line."""
        if self._skipping:
            end = data.find(b"\n")
            if end < 0:
                return
            data = data[end + 1 :]
            self._skipping = False
            self._lines += 1
        # Where the first line starts in the file (for the runs' extents).
        at = self._offset - len(data) - len(self._partial) if self.extents else None
        lines = (self._partial + data if self._partial else data).split(b"\n")
        partial = lines.pop()
        if self._batch_runs:
            self._parse_runs(lines, events, at)
        else:
            self._parse(lines, events)
        if len(partial) > MAX_LINE_BYTES:
            self._skip_long_line(self._lines + 1)
            partial, self._skipping = b"", True
        self._partial = partial

    def _parse_runs(self, lines: list[bytes], events: list[Event], at: int | None) -> None:
        """Batch-run mode: each stretch of lines spelled as kmon's writer starts a
        batch is decoded in one go (:meth:`_decode_stretch`); a stretch with any
        line the typed path refuses (or too long) goes line by line, as every other
        line does (:meth:`_parse`), so what is read and skipped is the same."""
        starts = list(map(bytes.startswith, lines, repeat(BATCH_PREFIX)))
        index, count = 0, len(lines)
        while index < count:
            batches = starts[index]
            end = _next_index(starts, not batches, index, count)
            stretch = lines[index:end]
            index = end
            start = at
            if at is not None:
                at += sum(map(len, stretch)) + len(stretch)
            decoded = None
            if batches and max(map(len, stretch)) <= MAX_LINE_BYTES:
                decoded = self._decode_stretch(stretch)
            if decoded is None:
                self._parse(stretch, events, start)
                continue
            self._lines += len(stretch)
            run = BatchRun(decoded, columns_of(decoded) if self.columns else None)
            if start is not None:
                run.extent = (start, at)
            if events and isinstance(events[-1], BatchRun):
                events[-1].join(run)
            else:
                events.append(run)

    def _decode_stretch(self, stretch: list[bytes]) -> list | None:
        """A stretch of batch lines as typed lines; None where any is refused (a
        newer schema's included: those are counted line by line)."""
        if self.key_sets:
            try:
                # The stretch's first line's key sets give a decoder that makes no
                # dict per line (column_decode; its ``v`` can only be this
                # schema's); a line with other keys or another version sends the
                # stretch the usual way.
                return list(map(decoder_for(decode_struct(stretch[0])).decode, stretch))
            except STRUCT_ERRORS:
                pass
        try:
            decoded = list(map(decode_struct, stretch))
        except STRUCT_ERRORS:
            return None
        versions = [line.v for line in decoded]
        return decoded if versions.count(SCHEMA_VERSION) == len(decoded) else None

    def _parse(self, lines: list[bytes], events: list[Event], at: int | None = None) -> None:
        """Each line the validated way (batch lines into runs in batch-run mode);
        ``at``: where the first line starts in the file, for the runs' extents."""
        first = self._lines + 1
        self._lines += len(lines)
        append, decode, report = events.append, decode_line, self.report
        runs = self._batch_runs
        # A run read in an earlier chunk goes on.
        holder = events[-1] if runs and events and isinstance(events[-1], BatchRun) else None
        run = holder.lines if holder is not None else None
        end = at
        for index, raw in enumerate(lines):
            if end is not None:
                start, end = end, end + len(raw) + 1
            if len(raw) > MAX_LINE_BYTES:
                self._skip_long_line(first + index)
                continue
            if runs and raw.startswith(BATCH_PREFIX):
                # fast_decode.decode_batch_line, inline: this runs for every batch.
                try:
                    line = decode_struct(raw)
                except STRUCT_ERRORS:
                    line = None
                if line is not None and line.v == SCHEMA_VERSION:
                    if run is None:
                        run = []
                        holder = BatchRun(run)
                        append(holder)
                        if end is not None:
                            holder.extent = (start, end)
                    run.append(line)
                    if end is not None and holder.extent is not None:
                        holder.extent = (holder.extent[0], end)
                    continue
            run = None  # whatever this line is, the run before it ends here
            try:
                event, version = decode(raw)
            except InvalidEvent as exc:
                counts = report.invalid_events
                counts[exc.type] = counts.get(exc.type, 0) + 1
                report.note(first + index, f"{exc.type}: {exc.problem}")
            except UnknownEventType as exc:
                name = str(exc)[:40]
                report.unknown_types[name] = report.unknown_types.get(name, 0) + 1
            except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
                if raw.strip():
                    report.garbage_lines += 1
                    report.note(first + index, "not a kmon event")
            else:
                append(event)
                if version != SCHEMA_VERSION:
                    report.newer_schema += 1

    def _skip_long_line(self, line: int) -> None:
        self.report.long_lines += 1
        self.report.note(line, f"over {MAX_LINE_BYTES >> 20} MiB")


def _next_index(flags: list[bool], value: bool, start: int, stop: int) -> int:
    """The first index from ``start`` on whose flag is ``value``; ``stop`` if none."""
    try:
        return flags.index(value, start, stop)
    except ValueError:
        return stop


def read_events(path: str | os.PathLike) -> tuple[list[Event], LogReadReport]:
    """Read a whole log file; see :class:`EventLogReader` for what is skipped."""
    reader = EventLogReader(path)
    return reader.read_all(), reader.report
