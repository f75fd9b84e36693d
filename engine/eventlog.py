"""The JSON Lines event log: a writer thread and a forgiving reader."""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .events import Event, UnknownEventType, event_from_dict

#: The log is flushed at least this often, and at every epoch end.
FLUSH_SECONDS = 1.0
_WRITE_PAUSE_SECONDS = 0.1
_FLUSH_NOW = frozenset(
    {"run_start", "fit_start", "epoch_end", "fit_end", "run_end", "notice", "alarm"}
)


def default_log_path(name: str, runs_dir: str | os.PathLike = "kmon-runs") -> Path:
    """A new, unused path ``<runs_dir>/<YYYYmmdd-HHMMSS>-<name>.jsonl``."""
    folder = Path(runs_dir)
    stem = f"{time.strftime('%Y%m%d-%H%M%S')}-{_slug(name)}"
    path = folder / f"{stem}.jsonl"
    counter = 1
    while path.exists():
        counter += 1
        path = folder / f"{stem}-{counter}.jsonl"
    return path


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(name).stem)[:60] or "run"


class EventLogWriter:
    """Writes every event it is given to a JSON Lines file, off the training thread.

    ``put`` only appends to a deque; a writer thread serializes and writes.

    Args:
        path: the log file; its folder is created. An existing file is appended to.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115
        self._pending: deque[Event] = deque()
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="kmon-eventlog", daemon=True)
        self._thread.start()
        self.written = 0

    def put(self, event: Event) -> None:
        self._pending.append(event)

    def close(self) -> None:
        """Write what is pending, flush to disk and close. Safe to call twice."""
        if self._closing.is_set():
            return
        self._closing.set()
        self._thread.join()
        self._write_pending()
        self._file.flush()
        try:
            os.fsync(self._file.fileno())
        except OSError:
            pass
        self._file.close()

    def _loop(self) -> None:
        last_flush = time.monotonic()
        while not self._closing.wait(_WRITE_PAUSE_SECONDS):
            urgent = self._write_pending()
            now = time.monotonic()
            if urgent or now - last_flush >= FLUSH_SECONDS:
                self._file.flush()
                last_flush = now

    def _write_pending(self) -> bool:
        urgent = False
        pending, write = self._pending, self._file.write
        while True:
            try:
                event = pending.popleft()
            except IndexError:
                return urgent
            write(event.to_json())
            write("\n")
            self.written += 1
            urgent = urgent or event.type in _FLUSH_NOW


@dataclass
class LogReadReport:
    """What a read skipped, so a caller can warn instead of crash."""

    garbage_lines: int = 0
    unknown_types: dict[str, int] = field(default_factory=dict)
    truncated_tail: bool = False

    @property
    def skipped(self) -> int:
        return self.garbage_lines + sum(self.unknown_types.values())


class EventLogReader:
    """Reads a log written by :class:`EventLogWriter`, possibly still growing.

    Garbage lines and events of unknown type (from a newer kmon) are skipped and
    counted in :attr:`report`. An incomplete last line is held back: the writer may
    still be finishing it. Call :meth:`read_new` again to get what was added since.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.report = LogReadReport()
        self._offset = 0
        self._partial = b""

    @property
    def offset(self) -> int:
        """Bytes of the file read so far."""
        return self._offset

    def read_new(self, max_bytes: int = -1) -> list[Event]:
        """Events appended since the last call (at most ``max_bytes`` of the file,
        so a monitor can show a long log's first frame before reading it all)."""
        with open(self.path, "rb") as handle:
            handle.seek(self._offset)
            data = handle.read(max_bytes)
            self._offset = handle.tell()
        data = self._partial + data
        lines = data.split(b"\n")
        self._partial = lines.pop()
        self.report.truncated_tail = bool(self._partial)
        return list(self._parse(lines))

    def read_all(self) -> list[Event]:
        """Everything in the file now, counting an unfinished last line as garbage."""
        events = self.read_new()
        if self._partial:
            events.extend(self._parse([self._partial]))
            self._partial = b""
        return events

    def _parse(self, lines: list[bytes]) -> Iterator[Event]:
        for raw in lines:
            if not raw.strip():
                continue
            try:
                yield event_from_dict(json.loads(raw))
            except UnknownEventType as exc:
                name = str(exc)
                self.report.unknown_types[name] = self.report.unknown_types.get(name, 0) + 1
            except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
                self.report.garbage_lines += 1


def read_events(path: str | os.PathLike) -> tuple[list[Event], LogReadReport]:
    """Read a whole log file; see :class:`EventLogReader` for what is skipped."""
    reader = EventLogReader(path)
    return reader.read_all(), reader.report
