"""The event log's writer: a thread that writes JSON Lines and survives a failing disk."""

from __future__ import annotations

import errno
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

from kmon.engine.events import LOG_TOPIC, SCHEMA_VERSION, Event, Notice
from kmon.engine.json_text import encode_batch_lines
from kmon.engine.log.block_lines import block_lines
from kmon.engine.log.log_gap import Gap, LogFailure, clock, describe_place, gap_notice
from kmon.engine.log.run_files import make_private_dirs, open_event_log
from kmon.engine.log.runs_index import RunsIndexError, register

#: The log is flushed at least this often, and at every epoch end.
FLUSH_SECONDS = 1.0
#: While the log cannot be written, at most this many events (and bytes) wait in
#: memory for a retry; batch events are dropped at once.
BACKLOG_EVENTS = 10_000
BACKLOG_BYTES = 4 * 1024 * 1024
#: How often a log that could not be written is tried again (space may come back).
RETRY_SECONDS = 1.0
#: Between flushes the thread wakes this often to serialize what came (memory stays
#: bounded); an event to flush at once (_FLUSH_NOW) wakes it at its put. Each wake
#: costs about 0.1 ms of CPU while the training thread holds the GIL.
_WRITE_PAUSE_SECONDS = 0.5
_FLUSH_LINES = 20_000
_FLUSH_NOW = frozenset(
    {"run_start", "fit_start", "epoch_end", "fit_end", "run_end", "notice", "alarm"}
)
# Every line starts with "v" and "type" (Event.to_dict and Batch's fast path): what
# a line is can be told without parsing it.
_BATCH_LINE = f'{{"v":{SCHEMA_VERSION},"type":"batch",'
_PLACE_LINES = (_BATCH_LINE, f'{{"v":{SCHEMA_VERSION},"type":"epoch_end",')
_RUN_END_LINE = f'{{"v":{SCHEMA_VERSION},"type":"run_end",'


class EventLogWriter:
    """Writes the events it is given to a JSON Lines file, off the training thread.

    ``put`` only appends to a deque; a writer thread serializes and writes. The file
    is new (or, with ``append``, an existing kmon log of this user's), mode 0600,
    never reached through a symlink, and locked for this writer's life: see
    :mod:`kmon.engine.log.run_files`.

    A failing disk stops neither training nor kmon. When a write fails (a full
    disk, a quota, an I/O error) the log is incomplete from there on:
    :attr:`failure` says from where and why. Batch events are then dropped and
    counted in :attr:`dropped`; the others wait in memory (at most
    ``BACKLOG_EVENTS`` and ``BACKLOG_BYTES``; beyond that they are dropped too,
    except ``run_end``) and are written, after a notice describing the gap, once a
    retry (every ``RETRY_SECONDS``) succeeds. A line a failed write cut short is cut
    off (the file shrinks back to its last whole line, which needs no space); should
    that fail too, the next write starts a fresh line, so readers skip only that one.
    Nothing here raises after the file is open, nor prints.

    Args:
        path: the log file; the folders it lacks are created, 0700.
        append: add to an existing kmon log of this user's rather than refuse it.
        on_notice: called on the writer thread with a :class:`Notice` (topic
            ``LOG_TOPIC``) when the log becomes incomplete and when it is written
            again. It must not block; it is where a monitor learns of it, since the
            log cannot tell.

    Raises:
        LogFileError: the path is refused: it exists, is a symlink, is being
            written by another run... (one line for the user).
        OSError: the file cannot be created.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        append: bool = False,
        on_notice: Callable[[Notice], None] | None = None,
    ) -> None:
        self.path = Path(path)
        make_private_dirs(self.path.parent)
        self._fd, self._mid_line = open_event_log(self.path, append=append)
        # Every run passes here (kmon train, run, --detach, headless, the in-script
        # callback): the one place to enter it in the per-user index. The run goes on
        # without it, as it goes on without a writable log.
        try:
            register(self.path)
        except RunsIndexError:
            pass
        self._offset = self._complete_offset = os.lseek(self._fd, 0, os.SEEK_END)
        self._on_notice = on_notice
        self._pending: deque[Event] = deque()
        self._lines: list[str] = []
        """Serialized events not written yet; while in a gap, the backlog."""
        self._held_bytes = 0
        self._place_line: str | None = None
        self._gap: Gap | None = None
        self.written = 0
        """Events completely written."""
        self.dropped = 0
        """Events that will never be written (the log could not take them)."""
        self.failure: LogFailure | None = None
        """None while the log is complete; else its first failed write."""
        self.resumed: float | None = None
        """When the log was last written again after a gap."""
        self._closing = threading.Event()
        self._wake = threading.Event()
        """Set by a put that must be written at once, and by :meth:`close`."""
        self._thread = threading.Thread(target=self._loop, name="kmon-eventlog", daemon=True)
        self._thread.start()

    def put(self, event: Event) -> None:
        self._pending.append(event)
        if event.type in _FLUSH_NOW:
            self._wake.set()  # an epoch's end, an alarm: rare, and written at once

    def close(self) -> None:
        """Write what is pending (one last try if the log is failing), flush to disk
        and close. Never raises; safe to call twice."""
        if self._closing.is_set():
            return
        self._closing.set()
        self._wake.set()
        self._thread.join()
        try:
            while True:  # a round takes at most _FLUSH_LINES events
                self._guarded(self._take_pending)
                self._guarded(self._write_lines)
                if not self._pending:
                    break
            if self._gap is not None:
                self.dropped += len(self._lines)
                self._lines = []
            os.fsync(self._fd)
        except OSError:
            pass
        finally:
            try:
                os.close(self._fd)
            except OSError:
                pass

    def final_notice(self) -> Notice | None:
        """What to tell the user at the end if the log is incomplete, else None."""
        failure = self.failure
        if failure is None:
            return None
        again = ""
        if self.resumed is not None and self._gap is None:
            again = f", written again from {clock(self.resumed)}"
        return Notice(
            level="error",
            topic=LOG_TOPIC,
            text=f"event log incomplete {failure.describe()}: {self.dropped} events not "
            f"written{again} · log: {self.path}",
        )

    def _loop(self) -> None:
        last_write = time.monotonic()
        pause = _WRITE_PAUSE_SECONDS
        while True:
            self._wake.wait(pause)
            self._wake.clear()  # a put after this sets it again: nothing is missed
            if self._closing.is_set():
                return  # close() takes what is left
            urgent = self._guarded(self._take_pending)
            now = time.monotonic()
            every = RETRY_SECONDS if self._gap is not None else FLUSH_SECONDS
            due = now - last_write >= every or (urgent and self._gap is None)
            if due:
                self._guarded(self._write_lines)
                last_write = now
            # Stopped taking at _FLUSH_LINES: more is waiting, take it without a pause.
            # Else wake by the next flush (or retry) at the latest.
            if len(self._lines) >= _FLUSH_LINES:
                pause = 0.0
            else:
                pause = min(_WRITE_PAUSE_SECONDS, max(last_write + every - now, 0.0))

    def _guarded(self, step: Callable[[], bool | None]) -> bool:
        try:
            return bool(step())
        except Exception as exc:  # noqa: BLE001
            # A bug must not end this thread: while it runs, memory stays bounded.
            if self._gap is None:
                self._begin_gap(OSError(None, f"{type(exc).__name__}: {exc}"), self._lines)
            return False

    def _take_pending(self) -> bool:
        """Serialize what was put; whether any of it should be written at once."""
        urgent = False
        pending, lines, gap = self._pending, self._lines, self._gap
        while True:
            try:
                event = pending.popleft()
            except IndexError:
                return urgent
            kind = event.type
            if kind == "batch_tape":
                # Batch ends the training thread shipped raw: what they stand for, in
                # place; a torch tape's batch events in one call where they allow it.
                items = event.items()
                fast = encode_batch_lines(items, SCHEMA_VERSION) if gap is None else None
                if fast is None:
                    pending.extendleft(reversed(items))
                    continue
                lines += fast
                if len(lines) >= _FLUSH_LINES:
                    return True
                continue
            if kind == "batch_block":  # a TensorFlow tape's batches, as columns
                if gap is not None:
                    gap.batches += len(event)
                    gap.last_batch = event.events()[-1]
                    self.dropped += len(event)
                    continue
                lines += block_lines(event, SCHEMA_VERSION)
                if len(lines) >= _FLUSH_LINES:
                    return True
                continue
            if gap is not None and kind == "batch":
                gap.batches += 1
                gap.last_batch = event
                self.dropped += 1
                continue
            try:
                line = event.to_json()
            except Exception:  # noqa: BLE001
                self.dropped += 1  # unserializable: the run matters more than it
                continue
            if gap is not None and not self._room_for(line):
                gap.others += 1
                self.dropped += 1
                continue
            lines.append(line)
            if kind in _FLUSH_NOW:
                urgent = True
            if len(lines) >= _FLUSH_LINES:
                return True  # write these before taking more: memory stays bounded

    def _room_for(self, line: str) -> bool:
        """In a gap: whether ``line`` may wait in memory (and count it if so)."""
        full = len(self._lines) >= BACKLOG_EVENTS or self._held_bytes + len(line) > BACKLOG_BYTES
        if full and not line.startswith(_RUN_END_LINE):
            return False
        self._held_bytes += len(line) + 1
        return True

    def _write_lines(self) -> None:
        """Write the lines waiting; in a gap, after a notice describing it."""
        gap, lines = self._gap, self._lines
        if gap is None and not lines:
            return
        if self._mid_line:
            done, error = self._write(b"\n")
            if error is not None:
                if gap is None:
                    self._begin_gap(error, lines)
                return
            self._mid_line = False
        notice = gap_notice(gap) if gap is not None else None
        out = [notice.to_json(), *lines] if notice is not None else lines
        data = ("\n".join(out) + "\n").encode("utf-8", "replace")
        done, error = self._write(data)
        complete = data.count(b"\n", 0, done)
        self.written += complete
        self._note_place(out, complete)
        if error is None:
            self._lines, self._held_bytes = [], 0
            if notice is not None:
                self._gap, self.resumed = None, time.time()
                self._tell(notice)
            return
        if done > 0 and data[done - 1] != ord("\n"):
            self._cut_partial_line()
        if notice is not None:
            if complete == 0:
                return  # the same gap goes on; its notice is made anew at the next try
            self._gap = None  # that gap is told in the log; what failed now starts another
        self._begin_gap(error, out[complete:])

    def _write(self, data: bytes) -> tuple[int, OSError | None]:
        """Write all of ``data``; the bytes written, and the error that stopped it."""
        view, done = memoryview(data), 0
        while done < len(data):
            start = self._offset
            try:
                count = os.write(self._fd, view[done:])
            except OSError as exc:
                return done, exc
            if count <= 0:
                return done, OSError(errno.EIO, "the write made no progress")
            last_newline = data.rfind(b"\n", done, done + count)
            if last_newline >= 0:
                self._complete_offset = start + last_newline - done + 1
            done += count
            self._offset += count
        return done, None

    def _cut_partial_line(self) -> None:
        """A write stopped inside a line: cut it off, so that the log ends with a
        whole line even if nothing more can ever be written (shrinking a file needs
        no space). If that fails too, the next write starts on a fresh line."""
        try:
            os.ftruncate(self._fd, self._complete_offset)
        except OSError:
            self._mid_line = True
            return
        self._offset = self._complete_offset

    def _note_place(self, lines: list[str], count: int) -> None:
        """Remember the last batch or epoch end among the ``count`` lines written."""
        for index in range(count - 1, -1, -1):
            if lines[index].startswith(_PLACE_LINES):
                self._place_line = lines[index]
                return

    def _begin_gap(self, error: OSError, unwritten: list[str]) -> None:
        """Nothing can be written from now: keep what may wait, drop the rest."""
        reason = error.strerror or str(error) or type(error).__name__
        gap = Gap(time.time(), reason, describe_place(self._place_line))
        self._gap = gap
        self._lines, self._held_bytes = [], 0
        for line in unwritten:
            if line.startswith(_BATCH_LINE):
                gap.batches += 1
            elif self._room_for(line):
                self._lines.append(line)
            else:
                gap.others += 1
        self.dropped += gap.batches + gap.others
        if self.failure is None:
            self.failure = LogFailure(
                gap.started, reason, error.errno, self.written, self._complete_offset, gap.after
            )
            self._tell(
                Notice(
                    level="error",
                    topic=LOG_TOPIC,
                    text=f"event log incomplete {self.failure.describe()} · training goes "
                    "on; batch events are dropped, the others kept in memory while kmon "
                    f"tries again every {RETRY_SECONDS:g} s",
                )
            )

    def _tell(self, notice: Notice) -> None:
        if self._on_notice is None:
            return
        try:
            self._on_notice(notice)
        except Exception:  # noqa: BLE001
            pass  # the monitor's trouble must not become the log's
