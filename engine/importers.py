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
import math
import os
from pathlib import Path

from .eventlog import LogReadReport, read_events
from .events import Batch, EpochEnd, Event, FitEnd, FitStart, Notice, RunEnd, RunStart


class UnreadableLog(ValueError):
    """The file cannot be read as any known format; the message is one line."""


def load_any(path: str | os.PathLike) -> tuple[list[Event], LogReadReport]:
    """kmon event log, CSVLogger file or TensorBoard directory, by what ``path`` is."""
    source = Path(path)
    if source.is_dir():
        return read_tensorboard(source), LogReadReport()
    if source.suffix.lower() == ".csv":
        return read_csv_logger(source), LogReadReport()
    return read_events(source)


def read_csv_logger(path: Path) -> list[Event]:
    """Events for a ``keras.callbacks.CSVLogger`` file (a new fit where epochs restart)."""
    t = path.stat().st_mtime
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    if not rows or "epoch" not in rows[0]:
        raise UnreadableLog(f"not a Keras CSVLogger file (no 'epoch' column): {path}")
    fits: list[list[tuple[int, dict[str, float]]]] = []
    for row in rows:
        try:
            epoch = int(float(row.pop("epoch")))
        except (TypeError, ValueError):
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


def read_tensorboard(folder: Path) -> list[Event]:
    """Events for a Keras TensorBoard log directory."""
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
    for wall_time, step, tag, value in _scalars(train):
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
    for _, step, tag, value in _scalars(validation):
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


def _scalars(files: list[Path]):
    """(wall_time, step, tag, value) of every scalar, in file order."""
    import tensorflow as tf
    from tensorflow.core.util import event_pb2

    for path in files:
        records = []
        try:
            for raw in tf.data.TFRecordDataset(str(path)):
                records.append(event_pb2.Event.FromString(raw.numpy()))
        except tf.errors.DataLossError:
            pass  # a truncated last record (the run is still writing): keep the rest
        except Exception as exc:  # noqa: BLE001 - anything else: one clear line
            raise UnreadableLog(f"cannot read {path}: {type(exc).__name__}") from None
        for record in records:
            for value in record.summary.value:
                number = _scalar_of(value, tf)
                if number is not None:
                    yield record.wall_time, int(record.step), value.tag, number


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
