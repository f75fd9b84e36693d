"""The Runs screen's rows: what each run's log says now, read incrementally.

A :class:`RowReader` keeps, per log, how far it has read and what the lines so far
told (a :class:`_Digest`). Each refresh reads only what a log gained since: a
finished log whose size and time did not change is not opened at all. Batch lines,
nearly all of a log, are never decoded except the newest (the last loss): the other
lines are found by their opening bytes (the writer starts every line with ``v`` and
``type``). A pass digests logs for at most its budget of this thread's CPU time,
the rows asked for first (those on screen); the others keep the values their log's
two ends tell and are digested on a later pass, so a table shows at once, whatever
the logs' sizes, and a reader never takes more than its share of a core.

Status and the log's ends come from the caller's :class:`IndexedRun` (see
:mod:`kmon.engine.log.run_scan`); a log that is gone is ``missing``, one that shrank
is ``truncated``.
"""

from __future__ import annotations

import json
import math
import os
import re
import time
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

from kmon.engine.log.indexed_runs import ELSEWHERE, MISSING, NOT_A_LOG, IndexedRun
from kmon.engine.log.runs_index import this_host

TRUNCATED = "truncated"
#: The budget's clock: this thread's CPU time (a loaded machine's wall time would
#: let a pass read nothing, or take a whole core).
_cpu_time = time.thread_time
_CHUNK = 8 << 20
_NOT_BATCH = re.compile(rb'^(?!\{"v":\d+,"type":"(?:batch|log)")[^\n]*\n', re.MULTILINE)
_BATCH_LINE = re.compile(rb'^\{"v":\d+,"type":"batch"[^\n]*\n', re.MULTILINE)


@dataclass
class RunRow:
    """One row of the Runs screen: validated values, None where the log does not
    tell (yet)."""

    path: Path
    run_id: str
    status: str
    what: str = "?"
    host: str | None = None
    started: float | None = None
    last_t: float | None = None
    epochs_done: int | None = None
    epochs: int | None = None
    eta: float | None = None
    """Seconds left in the latest fit, at its pace so far; running runs only."""
    last_loss: float | None = None
    best_val_loss: float | None = None
    alarms: int | None = None
    """Alarms active now (not counting the informational ones)."""
    complete: bool = False
    """Whether the whole log was digested (best val_loss, alarms, progress)."""

    @property
    def running(self) -> bool:
        return self.status == "running"

    @property
    def deletable(self) -> bool:
        """A run whose process may still write the log cannot be deleted."""
        return self.status not in ("running", "unknown", ELSEWHERE)


@dataclass
class _Digest:
    """What a log's lines told so far, and where reading stopped."""

    offset: int = 0
    size: int = -1
    mtime: float = -1.0
    task: str | None = None
    epochs: int | None = None
    initial_epoch: int = 0
    epochs_done: int | None = None
    fit_t: float | None = None
    epoch_t: float | None = None
    last_loss: float | None = None
    best_val_loss: float | None = None
    active: dict[tuple, str] = field(default_factory=dict)
    truncated: bool = False
    complete: bool = False


class RowReader:
    """Reads the rows of a set of runs, again and again, cheaply."""

    def __init__(self) -> None:
        self._digests: dict[Path, _Digest] = {}
        self._rows: dict[Path, RunRow] = {}
        self._host = this_host()
        self.deferred = 0
        """Logs the last pass left undigested (its budget ran out)."""
        self.changed = False
        """Whether the last pass changed a row (or dropped one)."""

    def read(
        self,
        runs: list[IndexedRun],
        *,
        budget: float | None = None,
        first: Collection[Path] = (),
    ) -> list[RunRow]:
        """The rows of ``runs`` now, in their order.

        Args:
            budget: seconds of this thread's CPU time the pass may spend digesting
                logs (None: no limit); past it they keep their two ends' values and
                are digested on a later pass (:attr:`deferred` counts them).
            first: the logs to digest before the others (the rows on screen).
        """
        deadline = None if budget is None else _cpu_time() + budget
        self.deferred = 0
        self.changed = False
        order = sorted(range(len(runs)), key=lambda n: runs[n].path not in first) if first else None
        rows: list[RunRow | None] = [None] * len(runs)
        for n in order if order is not None else range(len(runs)):
            quick = deadline is not None and _cpu_time() > deadline
            rows[n] = self._row(runs[n], quick)
        known = {run.path for run in runs}
        for path in [path for path in self._digests if path not in known]:
            del self._digests[path]
            self._rows.pop(path, None)
            self.changed = True
        return rows  # type: ignore[return-value] - every slot is filled

    def forget(self, path: Path) -> None:
        self._digests.pop(path, None)
        self._rows.pop(path, None)

    def _row(self, run: IndexedRun, quick: bool) -> RunRow:
        path = run.path
        found = run.info
        try:
            info = os.stat(path)
        except OSError:
            return self._remember(path, RunRow(path, run.run_id, MISSING, host=run.host))
        digest = self._digests.setdefault(path, _Digest())
        old = self._rows.get(path)
        unchanged = info.st_size == digest.size and info.st_mtime == digest.mtime
        if (
            old is not None
            and unchanged
            and (digest.complete or quick)
            and (found is None or _status(run) == old.status.split(",")[0])
            and not old.running
        ):
            # A finished log that did not change: not even opened (nor digested yet,
            # past the budget).
            self.deferred += not digest.complete
            return old
        if found is None:
            seen = old is not None and old.status not in (NOT_A_LOG, MISSING)
            status = TRUNCATED if seen or _cut_first_line(path) else NOT_A_LOG
            digest.size, digest.mtime = info.st_size, info.st_mtime
            return self._remember(path, RunRow(path, run.run_id, status, host=run.host))
        if info.st_size < digest.offset:  # rewritten shorter: read it again
            self._digests[path] = digest = _Digest(truncated=True)
        if quick and not digest.complete:
            self.deferred += 1
        else:
            _digest_to(path, digest, info.st_size)
        digest.size, digest.mtime = info.st_size, info.st_mtime
        status = _status(run)
        host = run.host or ""
        if digest.task:
            host = f"{host}:{digest.task}" if host else digest.task
        row = RunRow(
            path,
            found.id,
            f"{status}, {TRUNCATED}" if digest.truncated else status,
            what=found.what,
            host=host or None,
            started=found.started,
            last_t=found.last_t,
            epochs_done=digest.epochs_done if digest.complete else found.epochs,
            complete=digest.complete,
        )
        if digest.complete:
            row.epochs = digest.epochs
            row.best_val_loss = digest.best_val_loss
            row.alarms = sum(1 for severity in digest.active.values() if severity != "info")
            row.last_loss = digest.last_loss
            if found.running:
                row.eta = _eta(digest, time.time())
        return self._remember(path, row)

    def _remember(self, path: Path, row: RunRow) -> RunRow:
        if self._rows.get(path) != row:
            self.changed = True
        self._rows[path] = row
        return row


def _status(run: IndexedRun) -> str:
    """The run's status: its log's, or *elsewhere* (the index's judgement)."""
    return run.status if run.status == ELSEWHERE or run.info is None else run.info.status


def _eta(digest: _Digest, now: float) -> float | None:
    done, total = digest.epochs_done, digest.epochs
    if done is None or total is None or digest.fit_t is None:
        return None
    finished = done - digest.initial_epoch
    if finished <= 0 or done >= total or digest.epoch_t is None:
        return None
    per_epoch = (digest.epoch_t - digest.fit_t) / finished
    return max(0.0, per_epoch * (total - done) - (now - digest.epoch_t))


def _cut_first_line(path: Path) -> bool:
    """Whether the file looks like a kmon log cut short (empty, or an unfinished
    first line that starts as a kmon event does)."""
    try:
        with open(path, "rb") as file:
            head = file.read(64)
    except OSError:
        return False
    return head == b"" or (head.startswith(b'{"v":') and b"\n" not in head)


def _digest_to(path: Path, digest: _Digest, size: int) -> None:
    """Fold the complete lines between ``digest.offset`` and ``size``."""
    try:
        with open(path, "rb") as file:
            file.seek(digest.offset)
            while digest.offset < size:
                chunk = file.read(min(_CHUNK, size - digest.offset))
                if not chunk:
                    break
                end = chunk.rfind(b"\n") + 1
                if end == 0:
                    if len(chunk) >= _CHUNK:  # a line longer than a chunk: not kmon's
                        digest.offset += len(chunk)
                        continue
                    break  # the line is still being written
                _fold_chunk(digest, chunk[:end])
                digest.offset += end
                if end < len(chunk):
                    file.seek(digest.offset)
    except OSError:
        return
    digest.complete = True


def _fold_chunk(digest: _Digest, chunk: bytes) -> None:
    for match in _NOT_BATCH.finditer(chunk):
        event = _decode(match.group())
        if event is not None:
            _fold(digest, event)
    last_batch = None
    for match in _BATCH_LINE.finditer(chunk, max(0, len(chunk) - 65536)):
        last_batch = match
    if last_batch is not None and last_batch.start() > _last_epoch_end(chunk):
        event = _decode(last_batch.group())
        logs = event.get("logs") if event else None
        if isinstance(logs, dict) and _finite(logs.get("loss")) is not None:
            digest.last_loss = _finite(logs["loss"])


def _last_epoch_end(chunk: bytes) -> int:
    return chunk.rfind(b'"type":"epoch_end"')


def _fold(digest: _Digest, event: dict) -> None:
    kind = event.get("type")
    if kind == "run_start":
        task = event.get("task")
        digest.task = task[:64] if isinstance(task, str) and task else None
        digest.active.clear()
    elif kind == "fit_start":
        epochs, initial = _count(event.get("epochs")), _count(event.get("initial_epoch", 0))
        digest.epochs = epochs
        digest.initial_epoch = initial or 0
        digest.epochs_done = digest.initial_epoch
        digest.fit_t = digest.epoch_t = _finite(event.get("t"))
    elif kind == "epoch_end":
        epoch = _count(event.get("epoch"))
        if epoch is not None:
            digest.epochs_done = epoch + 1
        digest.epoch_t = _finite(event.get("t"))
        logs = event.get("logs")
        if isinstance(logs, dict):
            loss, val = _finite(logs.get("loss")), _finite(logs.get("val_loss"))
            if loss is not None:
                digest.last_loss = loss
            if val is not None and (digest.best_val_loss is None or val < digest.best_val_loss):
                digest.best_val_loss = val
    elif kind == "alarm":
        key = (event.get("kind"), event.get("subject"))
        if not all(part is None or isinstance(part, str) for part in key):
            return
        if event.get("state") == "raised":
            severity = event.get("severity")
            digest.active[key] = severity if isinstance(severity, str) else "warning"
        else:
            digest.active.pop(key, None)


def _decode(line: bytes) -> dict | None:
    try:
        value = json.loads(line)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def _finite(value: object) -> float | None:
    if type(value) not in (int, float) or not math.isfinite(value):
        return None
    return float(value)


def _count(value: object) -> int | None:
    return value if type(value) is int and 0 <= value < 2**31 else None
