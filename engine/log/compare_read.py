"""Reading kmon logs for a compare, fast: the epoch view from a skim of the
batches, the per-batch view as columns only when it is shown, several logs in
worker processes.

A compare's epoch view needs of a million batch lines only where each epoch's
steps end and when the last batch came: :class:`CondensingReader` reads a batch
line's ``t``, ``fit``, ``epoch`` and ``step`` and skips the rest undecoded, and
hands out each run of batch lines as one line per epoch it spans
(its largest step, its latest time). A :class:`~kmon.engine.view.state.RunState`
folds that to the same history, steps, times and status as every line (the step
counters only ever move to a larger step; ``tests/engine/test_compare_read.py``
compares them); its per-batch series stay empty. The lines those numbers come
from are decoded in full, as a replay decodes them, and a stretch where one is
refused goes the reader's validated way, as does any line the skim refuses: so a
batch line a replay skips never moves a number (the largest step and the latest
time of the others are the same without it). What the skim does not do is count,
in its report, a refused batch line that decides nothing (the compare shows no
report).

The per-batch view reads the log again, every line through the reader's own
validated path, into :class:`BatchColumns`: bounded series of each batch's time
and, for the keys the first batch logged, Keras's running mean and the batch's
recovered value.

:func:`map_logs` runs either over several logs, one worker process per log (up
to the CPUs there are) when they are big enough to pay for starting them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from multiprocessing import get_context
from pathlib import Path
from typing import Literal, TypeVar

import msgspec

from kmon.engine.events import SCHEMA_VERSION
from kmon.engine.log.eventlog import (
    EventLogReader,
    LogReadReport,
)
from kmon.engine.log.fast_decode import (
    STRUCT_ERRORS,
    BatchLine,
    Count,
    Number,
    decode_struct,
)
from kmon.engine.series import BatchKeySeries

#: Bytes of a log read at a time.
CHUNK_BYTES = 4 << 20
#: Logs of fewer bytes in all are read in this process: starting a worker
#: (a fresh interpreter importing the reader, about 0.2 s) costs more.
PARALLEL_BYTES = 32 << 20


class BatchStep(msgspec.Struct, gc=False):
    """A batch line skimmed: what the epoch view needs, with the schema's checks
    on it; the rest (``logs``, ``values``) is skipped, not decoded. The lines an
    epoch's numbers come from are decoded in full (:func:`condense`)."""

    type: Literal["batch"]
    t: Number
    fit: Count
    epoch: Count
    step: Count
    v: Literal[SCHEMA_VERSION] = SCHEMA_VERSION  # another: the validated path counts it


_skim = msgspec.json.Decoder(BatchStep).decode
_SKIM_ERRORS = (msgspec.DecodeError, msgspec.ValidationError)


def condense(steps: Sequence[BatchStep], raw: Sequence[bytes]) -> list[BatchLine] | None:
    """One batch line per stretch of ``steps`` in one fit and epoch: its largest
    step and latest time, no logs (a RunState folds it to the same counters).

    The lines those come from are decoded in full (``raw``: the lines of
    ``steps``) as a replay decodes them: None when one is refused there (the skim
    leaves ``logs`` and ``values`` unchecked), for the caller to read the lines
    the validated way. Another line the full decode would refuse decides nothing:
    the largest step and the latest time are the same without it.
    """
    lines: list[BatchLine] = []
    start, count = 0, len(steps)
    fits = [step.fit for step in steps]
    epochs = [step.epoch for step in steps]
    # The usual case, checked at C speed: the whole run is in one epoch.
    one_epoch = fits.count(fits[0]) == count and epochs.count(epochs[0]) == count
    while start < count:
        fit, epoch = fits[start], epochs[start]
        end = count if one_epoch else start + 1
        while end < count and fits[end] == fit and epochs[end] == epoch:
            end += 1
        stretch = steps[start:end]
        times = [step.t for step in stretch]
        numbers = [step.step for step in stretch]
        latest, top = max(times), max(numbers)
        for offset in {times.index(latest), numbers.index(top)}:
            if not _decodes(raw[start + offset]):
                return None
        lines.append(BatchLine(type="batch", t=latest, fit=fit, epoch=epoch, step=top, logs={}))
        start = end
    return lines


def _decodes(raw: bytes) -> bool:
    """Whether the reader's typed path takes this batch line as it is."""
    try:
        return decode_struct(raw).v == SCHEMA_VERSION
    except STRUCT_ERRORS:
        return False


class CondensingReader(EventLogReader):
    """An :class:`EventLogReader` in batch-run mode whose runs of batch lines are
    condensed (:func:`condense`): for a compare's epoch view, not for a replay."""

    def __init__(self, path: str | os.PathLike) -> None:
        super().__init__(path, batch_runs=True)

    def _decode_stretch(self, stretch: list[bytes]) -> list | None:
        # The skim for the typed decode; condensed to the lines an epoch needs.
        try:
            skimmed = list(map(_skim, stretch))
        except _SKIM_ERRORS:
            return None  # said line by line, as a replay says it
        return condense(skimmed, stretch)


def read_condensed(path: str | os.PathLike) -> tuple[list, LogReadReport]:
    """Every event of a log with its batches condensed (:class:`CondensingReader`),
    and what the reader skipped; a file gone halfway ends it (the report says)."""
    reader = CondensingReader(path)
    return _read_to_end(reader, lambda events: events), reader.report


class BatchColumns(BatchKeySeries):
    """A log's batches as bounded series (a few KB, whatever the log's length, to
    send back from a worker): what a compare's per-batch view draws, and what the
    reader skipped.

    Args:
        capacity: buckets kept per series.
    """

    def __init__(self, capacity: int = 512) -> None:
        super().__init__(capacity)
        self.report = LogReadReport()


def read_batch_columns(path: str | os.PathLike) -> BatchColumns | str:
    """A log's batches as :class:`BatchColumns`, every line read the validated
    way; or a line saying why the log cannot be read."""
    columns = BatchColumns()
    reader = EventLogReader(path, batch_runs=True)
    # BatchKeySeries reads every line's logs and values dicts: a BatchLine has them.
    reader.key_sets = reader.columns = False

    def fold(events: list) -> list:
        for event in events:
            if event.type == "batch_run":
                columns.add(event.lines)
            elif event.type == "batch":
                columns.add([event])
        return []

    try:
        with open(path, "rb"):
            pass
    except OSError as exc:
        return f"cannot read it ({exc.strerror or exc})"
    _read_to_end(reader, fold)
    columns.report = reader.report
    return columns


def _read_to_end(reader: EventLogReader, keep: Callable[[list], list]) -> list:
    """What ``keep`` keeps of each chunk of the log, read to its end."""
    kept: list = []
    try:
        while True:
            events = reader.read_new(CHUNK_BYTES)
            if not events:
                break
            kept += keep(events)
        kept += keep(reader.read_all())
    except OSError as exc:
        reader.report.damaged.append(f"the log could not be read to its end ({exc.strerror})")
    return kept


Result = TypeVar("Result")


class Stopped(Exception):
    """:func:`map_logs` was told to stop before it was done."""


def map_logs(
    function: Callable[[Path], Result],
    paths: Sequence[Path],
    *,
    nice: int = 0,
    stop: Callable[[], bool] | None = None,
) -> list[Result]:
    """``function`` of each log, in order: in worker processes (one log each, as
    many at once as there are CPUs) when there are several logs of at least
    :data:`PARALLEL_BYTES` in all, else here.

    Args:
        function: a module-level function (it is sent to the workers by name).
        paths: the logs.
        nice: added to the workers' niceness (a background read leaves the UI
            its CPU).
        stop: asked every 0.1 s while the workers read; True ends them.

    Raises:
        Stopped: ``stop`` said so (the workers are ended).
    """
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    workers = min(len(paths), cpus or 1)
    if workers < 2 or _total_bytes(paths) < PARALLEL_BYTES:
        results = []
        for path in paths:
            if stop is not None and stop():
                raise Stopped
            results.append(function(path))
        return results
    # spawn, not fork: a fork would copy a UI's threads' locks mid-use.
    with get_context("spawn").Pool(workers, _lower_priority, (nice,)) as pool:
        pending = pool.map_async(function, paths, chunksize=1)
        while not pending.ready():
            pending.wait(0.1)
            if stop is not None and stop():
                raise Stopped  # leaving the block terminates the workers
        return pending.get()


def _total_bytes(paths: Sequence[Path]) -> int:
    total = 0
    for path in paths:
        try:
            total += os.stat(path).st_size
        except OSError:
            pass
    return total


def _lower_priority(nice: int) -> None:
    if nice:
        os.nice(nice)
