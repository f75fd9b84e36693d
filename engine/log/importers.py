"""Other loggers' files as kmon events, so `kmon replay` shows old runs over SSH
without TensorBoard or port forwarding.

- a Keras ``CSVLogger`` file: one row per epoch (``epoch`` column, then the logs);
- a TensorBoard log directory written by ``keras.callbacks.TensorBoard``: event
  files under ``train/`` and ``validation/``, read with TensorFlow's own record
  reader (no TensorBoard server). ``epoch_<name>`` scalars become epoch logs
  (``val_<name>`` from ``validation/``), ``batch_<name>`` scalars batch logs.
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

from kmon.engine.event_schema import INT_LIMIT
from kmon.engine.events import Batch, EpochEnd, Event, FitEnd, FitStart, Notice, RunEnd, RunStart
from kmon.engine.log.eventlog import LogReadReport, read_events


class UnreadableLog(ValueError):
    """The file cannot be read as any known format; the message is one line."""


def load_any(path: str | os.PathLike) -> tuple[list[Event], LogReadReport]:
    """kmon event log, CSVLogger file or TensorBoard directory, by what ``path`` is.

    What could not be read is skipped, and said in the report (and, for a damaged
    TensorBoard file, in a warning notice among the events)."""
    source = Path(path)
    report = LogReadReport()
    if source.is_dir():
        return read_tensorboard(source, report), report
    if source.suffix.lower() == ".csv":
        return read_csv_logger(source, report), report
    return read_events(source)


def read_csv_logger(path: Path, report: LogReadReport | None = None) -> list[Event]:
    """Events for a ``keras.callbacks.CSVLogger`` file (a new fit where epochs restart).

    Rows that are not UTF-8 text (a damaged file) or have no epoch number are
    skipped and counted in ``report``.
    """
    report = report if report is not None else LogReadReport()
    t = path.stat().st_mtime
    header, rows = _csv_rows(path, report)
    if "epoch" not in header:
        raise UnreadableLog(f"not a Keras CSVLogger file (no 'epoch' column): {path}")
    fits: list[list[tuple[int, dict[str, float]]]] = []
    for line, row in rows:
        text = row.pop("epoch")
        try:
            epoch = int(float(text))
        except (TypeError, ValueError, OverflowError):
            epoch = -1
        if not 0 <= epoch < INT_LIMIT:
            report.garbage_lines += 1
            report.note(line, f"epoch is {str(text)[:20]!r}, not an epoch number")
            continue
        logs = {key: _number(value) for key, value in row.items() if key}
        if not fits or epoch <= fits[-1][-1][0]:
            fits.append([])
        fits[-1].append((epoch, logs))
    if not fits:
        raise UnreadableLog(f"no epoch rows in {path}")
    events: list[Event] = [
        RunStart(script=str(path), argv=[], t=t),
        Notice(text="imported from a CSVLogger file: epochs only, no batches or timings", t=t),
    ]
    for index, epochs in enumerate(fits):
        first = epochs[0][0]
        events.append(
            FitStart(fit=index, epochs=epochs[-1][0] + 1, initial_epoch=first, steps=None, t=t)
        )
        events += [EpochEnd(fit=index, epoch=epoch, logs=logs, t=t) for epoch, logs in epochs]
        events.append(FitEnd(fit=index, t=t))
    events.append(RunEnd(status="ok", exit_code=0, fits=len(fits), t=t))
    return events


def _csv_rows(path: Path, report: LogReadReport) -> tuple[list[str], list[tuple[int, dict]]]:
    """The header and (line number, row) of every data row. Rows holding bytes that
    are not UTF-8 are skipped and counted: CSVLogger writes text, so such a row is
    damaged.

    Raises:
        UnreadableLog: the header is not UTF-8 text, or the file is not CSV.
    """
    raw = path.read_bytes()
    try:
        text, first_bad = raw.decode("utf-8"), None
    except UnicodeDecodeError as exc:
        # surrogateescape keeps each invalid byte as a lone surrogate, so the damaged
        # rows can be told (and skipped) without losing the rows around them.
        text, first_bad = raw.decode("utf-8", errors="surrogateescape"), exc.start
    reader = csv.DictReader(io.StringIO(text, newline=""))
    rows = []
    try:
        header = reader.fieldnames or []
        if first_bad is not None and any(_DAMAGED.search(name) for name in header):
            raise UnreadableLog(
                f"not UTF-8 text at byte {first_bad}, in the header row (a damaged file?): {path}"
            )
        for row in reader:
            if first_bad is not None and any(
                _DAMAGED.search(value) for value in row.values() if isinstance(value, str)
            ):
                report.garbage_lines += 1
                report.note(reader.line_num, "not UTF-8 text")
                continue
            rows.append((reader.line_num, row))
    except csv.Error as exc:
        raise UnreadableLog(f"cannot read {path} as CSV: line {reader.line_num}: {exc}") from None
    return header, rows


#: A byte that was not UTF-8, as ``surrogateescape`` decodes it.
_DAMAGED = re.compile("[\udc80-\udcff]")


def read_tensorboard(folder: Path, report: LogReadReport | None = None) -> list[Event]:
    """Events for a Keras TensorBoard log directory.

    A corrupt or truncated events file is read up to the damage; what was skipped
    is said in ``report.damaged`` and in a warning notice among the events.
    """
    report = report if report is not None else LogReadReport()
    train = sorted((folder / "train").glob("events.out.tfevents.*"))
    validation = sorted((folder / "validation").glob("events.out.tfevents.*"))
    if not train:
        train = sorted(folder.glob("events.out.tfevents.*"))
    if not train:
        raise UnreadableLog(f"no TensorBoard event files in {folder} or {folder}/train")
    epochs: dict[int, dict[str, float]] = {}
    epoch_times: dict[int, float] = {}
    batches: list[Batch] = []
    first_t = None
    boundary, step_in_epoch, last_batch_step = 0, 0, None
    for wall_time, step, tag, value in _scalars(train, folder, report):
        first_t = wall_time if first_t is None else first_t
        if tag.startswith("epoch_"):
            epochs.setdefault(step, {})[tag[len("epoch_") :]] = value
            epoch_times[step] = wall_time
            boundary, step_in_epoch = step + 1, 0
        elif tag.startswith("batch_"):
            name = tag[len("batch_") :]
            if step == last_batch_step:
                batches[-1].logs[name] = value
                continue
            last_batch_step = step
            batches.append(
                Batch(fit=0, epoch=boundary, step=step_in_epoch, logs={name: value}, t=wall_time)
            )
            step_in_epoch += 1
    for _, step, tag, value in _scalars(validation, folder, report):
        if tag.startswith("epoch_"):
            epochs.setdefault(step, {})["val_" + tag[len("epoch_") :]] = value
    if not epochs and not batches:
        raise UnreadableLog(f"no Keras scalars (epoch_*/batch_*) in {folder}")
    t0 = first_t or 0.0
    last = max(epoch_times.values(), default=t0)
    steps = max((b.step for b in batches), default=-1) + 1 or None
    events: list[Event] = [
        RunStart(script=str(folder), argv=[], t=t0),
        Notice(text="imported from a TensorBoard log directory", t=t0),
        *(Notice(level="warning", text=damage, t=t0) for damage in report.damaged),
        FitStart(fit=0, epochs=max(epochs, default=0) + 1, steps=steps, t=t0),
    ]
    timeline: list[Event] = [*batches]
    timeline += [
        EpochEnd(fit=0, epoch=epoch, logs=logs, t=epoch_times.get(epoch, last))
        for epoch, logs in sorted(epochs.items())
    ]
    timeline.sort(key=lambda event: (event.t, event.type == "epoch_end"))
    events += timeline
    events += [FitEnd(fit=0, t=last), RunEnd(status="ok", exit_code=0, fits=1, t=last)]
    return events


def _scalars(files: list[Path], folder: Path, report: LogReadReport):
    """(wall_time, step, tag, value) of every scalar, in file order; a file's damage
    (a corrupt record, or a truncated last one while the run still writes) ends
    what is read of it, and is noted in ``report.damaged``."""
    with _tensorflow_start_unseen():
        import tensorflow as tf
        from tensorflow.core.util import event_pb2

        read = [(path, _records(path, folder, report, tf, event_pb2)) for path in files]
    for _path, records in read:
        for record in records:
            for value in record.summary.value:
                number = _scalar_of(value, tf)
                if number is not None:
                    yield record.wall_time, int(record.step), value.tag, number


def _records(path: Path, folder: Path, report: LogReadReport, tf, event_pb2) -> list:
    """The events of one file, up to its damage (noted in ``report.damaged``)."""
    records: list = []
    try:
        for raw in tf.data.TFRecordDataset(str(path)):
            records.append(event_pb2.Event.FromString(raw.numpy()))
    except tf.errors.DataLossError as exc:
        found = re.search(r"(corrupted|truncated) record at (\d+)", exc.message or "")
        what = f"a {found[1]} record at byte {found[2]}" if found else "unreadable data"
        report.damaged.append(
            f"{path.relative_to(folder)}: {what} after {len(records)} record(s): "
            "the rest of that file was skipped"
        )
    except Exception as exc:  # noqa: BLE001 - anything else: one clear line
        raise UnreadableLog(f"cannot read {path}: {type(exc).__name__}") from None
    return records


@contextmanager
def _tensorflow_start_unseen():
    """File descriptor 2 into a temporary file while TensorFlow starts in this
    process (its import, and the devices' set-up at the first dataset).

    TensorFlow 2.21 prints its C++ start-up lines (absl's, oneDNN's, "failed call
    to cuInit" on a machine without a GPU) whatever ``TF_CPP_MIN_LOG_LEVEL`` says,
    and `kmon compare` or `kmon replay` of a TensorBoard folder would leave them
    over the user's terminal. Only before a monitor draws there (the importers
    run before any app starts) and only where TensorFlow has not started yet."""
    if "tensorflow" in sys.modules:
        yield
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):
        yield  # no file descriptor 2 to borrow: the lines go where they would
        return
    try:
        with tempfile.TemporaryFile() as sink:
            os.dup2(sink.fileno(), 2)
            try:
                yield
            finally:
                os.dup2(saved, 2)
    finally:
        os.close(saved)


def _scalar_of(value, tf) -> float | None:
    if value.HasField("simple_value"):
        return float(value.simple_value)
    if value.HasField("tensor") and value.metadata.plugin_data.plugin_name == "scalars":
        array = tf.make_ndarray(value.tensor)
        if array.size == 1:
            return float(array.reshape(()))
    return None


def _number(text: str | None) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        return math.nan
