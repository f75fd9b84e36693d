"""The compare model: several runs folded side by side, their series aligned on a
chosen x axis, and the table of their final and best values, fit settings, alarms
and durations. The compare screen and ``kmon compare --headless`` both read it.

It takes runs already read (:mod:`kmon.engine.log.compare_inputs` reads them): a
name, a kind and the events of each.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kmon.engine.events import Alarm, Event, FitStart
from kmon.engine.format import format_duration, format_value, ordered_keys, printable
from kmon.engine.view.batch_track import BatchTrack
from kmon.engine.view.state import RunState

#: One colour per run, by its place in the compare (plotext's names).
PALETTE = ("cyan", "orange", "green", "magenta", "yellow", "blue", "red", "white")
EPOCH, STEP, WALL, SINCE_START = "epoch", "step", "wall time", "time since start"
X_AXES = (EPOCH, STEP, WALL, SINCE_START)
#: Words in a metric's name that make lower values better (the rest: higher).
_LOWER_IS_BETTER = ("loss", "error", "mse", "mae", "mape", "msle", "hinge", "crossentropy")


def lower_is_better(key: str) -> bool:
    """Whether the best value of ``key`` is its lowest (losses, errors)."""
    name = key.lower()
    return any(word in name for word in _LOWER_IS_BETTER)


@dataclass
class ComparedRun:
    """One run of a compare, folded."""

    index: int
    name: str
    kind: str
    state: RunState
    fit_starts: list[FitStart] = field(default_factory=list)
    epoch_times: list[float] = field(default_factory=list)
    """When each epoch of ``state.history`` ended (``t`` of its ``epoch_end``)."""
    alarms: list[str] = field(default_factory=list)
    """Alarms raised (kind, and subject where there is one), in order, once each."""
    track: BatchTrack | None = field(default_factory=BatchTrack)
    """Its batches over all its models, with their times (the per-batch view);
    None until they are read (:meth:`Comparison.add_batches`)."""
    batch_log: Path | None = None
    """The kmon log its batches are read from when the per-batch view is shown
    (its state folded them condensed); None: they came with its events."""
    batch_problem: str | None = None
    """Why its batches could not be read, where they could not."""

    @property
    def colour(self) -> str:
        return PALETTE[self.index % len(PALETTE)]

    @property
    def label(self) -> str:
        return f"{self.index + 1} {self.state.name or self.name}"

    @property
    def timed(self) -> bool:
        """The events carry real times (a CSVLogger file has none)."""
        return self.kind != "CSVLogger"

    @property
    def epoch_keys(self) -> list[str]:
        keys: dict[str, None] = {}
        for record in self.state.history:
            keys.update(dict.fromkeys(ordered_keys(record.logs)))
        return list(keys)

    @property
    def duration(self) -> float | None:
        state = self.state
        end = state.ended if state.ended is not None else state.last_t
        if not self.timed or state.started is None or end is None:
            return None
        return end - state.started

    def final(self, key: str) -> float | None:
        """The last epoch's value of ``key``, where one logged it (finite or not)."""
        for record in reversed(self.state.history):
            if key in record.logs:
                return float(record.logs[key])
        return None

    def best(self, key: str) -> tuple[float, int] | None:
        """The best finite epoch value of ``key`` and its epoch number (1-based)."""
        lower = lower_is_better(key)
        best: tuple[float, int] | None = None
        for record in self.state.history:
            value = record.logs.get(key)
            if value is None or not math.isfinite(value):
                continue
            if best is None or (value < best[0] if lower else value > best[0]):
                best = (float(value), record.number)
        return best

    def epoch_points(self, key: str, axis: str) -> list[tuple[float, float]]:
        """(x, value) per epoch that logged a finite ``key``; none on a time axis
        for a run without times."""
        if axis in (WALL, SINCE_START) and not self.timed:
            return []
        state = self.state
        points = []
        steps = 0
        for index, record in enumerate(state.history):
            steps += record.steps
            value = record.logs.get(key)
            if value is None or not math.isfinite(value):
                continue
            if axis == EPOCH:
                x = float(record.number)
            elif axis == STEP:
                x = float(steps)
            elif axis == WALL:
                x = self.epoch_times[index]
            else:
                x = self.epoch_times[index] - (state.started or self.epoch_times[0])
            points.append((x, float(value)))
        return points

    def batch_points(self, key: str, axis: str = STEP) -> tuple[list[tuple[float, float]], str] | None:
        """Per-batch ``key`` over all the run's models, as (x, mean of the batches
        in each bucket), and what the values are: the batches' own values where
        kmon recovered every one, else Keras's running means. x is the run's batch
        number on the epoch and step axes, else the time of the bucket's first
        batch. None when the run has no batches of ``key`` (or no times, on a time
        axis)."""
        if axis in (WALL, SINCE_START) and not self.timed:
            return None
        x_axis = {WALL: "wall", SINCE_START: "since start"}.get(axis, "batch")
        if self.track is None:
            return None
        found = self.track.points(key, self.state.started, x_axis)
        if found is None:
            return None
        points, own = found
        what = "each batch's own value (recovered)" if own else (
            "running mean (batch values not recoverable)"
        )
        return points, what

    def fit_settings(self) -> str:
        """The fits' settings from their ``fit_start``, one phrase each."""
        parts = []
        for start in self.fit_starts:
            words = [f"fit {start.fit}: {start.epochs - start.initial_epoch} epochs"]
            if start.steps is not None:
                words.append(f"{start.steps} steps")
            if start.batch_size is not None:
                words.append(f"batch {start.batch_size}")
            if start.samples is not None:
                words.append(f"{start.samples} samples")
            if start.steps_per_execution != 1:
                words.append(f"{start.steps_per_execution} steps per execution")
            if start.early_stopping:
                words.append("stops early: " + "/".join(start.early_stopping))
            parts.append(", ".join(words))
        return "; ".join(parts) or "not logged"


class Comparison:
    """Runs side by side.

    Args:
        runs: (name, kind, events) of each run, in the order they were given.
    """

    def __init__(self, runs: Sequence[tuple[str, str, list[Event]]]) -> None:
        self.runs: list[ComparedRun] = []
        for index, (name, kind, events) in enumerate(runs):
            self.runs.append(_fold(index, name, kind, events))

    def metrics(self) -> list[str]:
        """Every epoch-level key of any run: those all runs share first."""
        shared = self.shared()
        every: dict[str, None] = dict.fromkeys(shared)
        for run in self.runs:
            every.update(dict.fromkeys(run.epoch_keys))
        return list(every)

    def shared(self) -> list[str]:
        """The epoch-level keys every run logged, in the first run's order."""
        if not self.runs:
            return []
        keys = self.runs[0].epoch_keys
        for run in self.runs[1:]:
            theirs = set(run.epoch_keys)
            keys = [key for key in keys if key in theirs]
        return keys

    def pending_batches(self) -> list[Path]:
        """The logs whose batches are still to read for the per-batch view."""
        return [run.batch_log for run in self.runs if run.track is None and run.batch_log]

    @property
    def batches_read(self) -> bool:
        """Every run's batches are read (or could not be)."""
        return all(run.track is not None or run.batch_problem for run in self.runs)

    def add_batches(self, read: Sequence[Any]) -> None:
        """Give the runs awaiting their batches what was read, in the order of
        :meth:`pending_batches`: each log's columns
        (:class:`~kmon.engine.log.compare_read.BatchColumns`) or a line saying why
        they cannot be read."""
        waiting = [run for run in self.runs if run.track is None and run.batch_log]
        for run, columns in zip(waiting, read):
            if isinstance(columns, str):
                run.batch_problem = columns
            else:
                run.track = BatchTrack.from_columns(columns)

    def lacking(self) -> dict[str, list[str]]:
        """Run label -> the keys other runs logged that this one did not."""
        every = self.metrics()
        missing = {}
        for run in self.runs:
            mine = set(run.epoch_keys)
            lacks = [key for key in every if key not in mine]
            if lacks:
                missing[run.label] = lacks
        return missing

    def table(self, keys: Sequence[str] | None = None) -> list[list[str]]:
        """Rows of the runs' table, its header first: per run its label, kind,
        epochs, duration, alarms, and the final and best value of each key."""
        keys = list(self.shared() if keys is None else keys)
        header = ["run", "source", "epochs", "duration", "alarms"]
        for key in keys:
            header += [f"final {key}", f"best {key}"]
        rows = [header]
        for run in self.runs:
            row = [
                printable(run.label),
                run.kind,
                str(len(run.state.history)),
                format_duration(run.duration) if run.duration is not None else "—",
                ", ".join(run.alarms) or "none",
            ]
            for key in keys:
                best = run.best(key)
                row.append(format_value(run.final(key)) if key in run.epoch_keys else "—")
                row.append(f"{format_value(best[0])} (epoch {best[1]})" if best else "—")
            rows.append(row)
        return rows

    def report(self, width: int | None = None) -> str:
        """The table as text, the fit settings and what each run lacks (headless).

        One row a run; where that is wider than ``width`` (a terminal's columns),
        the runs' own columns, then the metrics a row each with a column a run,
        then each run's alarms, which a terminal shows without wrapping every row."""
        rows = self.table()
        lines = _aligned(rows)
        if width is not None and max(map(len, lines)) > width:
            lines = _aligned([row[:4] for row in rows]) + [""]
            runs = [row[0] for row in rows[1:]]
            metrics = [[name, *(row[column] for row in rows[1:])]
                       for column, name in enumerate(rows[0][5:], start=5)]
            lines += _aligned([["metric", *runs], *metrics])
            lines += ["", "alarms:"] + [f"  {row[0]}: {row[4]}" for row in rows[1:]]
        lines.append("")
        lines.append("fit settings:")
        lines += [f"  {printable(run.label)}: {run.fit_settings()}" for run in self.runs]
        shared = self.shared()
        lines.append("shared metrics: " + (", ".join(shared) or "none"))
        for label, lacks in self.lacking().items():
            lines.append(f"  {printable(label)} lacks {', '.join(lacks)}")
        return "\n".join(lines)


def _aligned(rows: list[list[str]]) -> list[str]:
    """Rows of cells as lines, each column as wide as its widest cell."""
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    return ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip()
            for row in rows]


class RunFolder:
    """Folds one run of a compare as its events come, a chunk at a time: what
    the compare keeps of a run is bounded (its state, its fits and epochs), never
    its events.

    Args:
        index: the run's place in the compare.
        name: as given.
        kind: what it was read from.
        batch_log: the kmon log whose batches come condensed (read later for
            the per-batch view), if so.
    """

    def __init__(
        self, index: int, name: str, kind: str, batch_log: Path | None = None
    ) -> None:
        self.run = ComparedRun(index, name, kind, RunState())
        if batch_log is not None:
            # Its batches come condensed: the track is read from the log later.
            self.run.track, self.run.batch_log = None, batch_log
        self.seen = False
        """Any event came."""
        self.trained = False
        """An epoch or a batch came: the input is a run."""
        self._alarms_seen: set[str] = set()

    def add(self, events: Sequence[Event]) -> None:
        """Fold the next events (and runs of batch lines, type "batch_run")."""
        run = self.run
        run.state.apply_all(list(events))
        for event in events:
            self.seen = True
            kind = event.type
            if kind == "batch_run":
                self.trained = True
                if run.track is not None:
                    run.track.add(event.lines)  # type: ignore[attr-defined]
            elif kind == "batch":
                self.trained = True
                if run.track is not None:
                    run.track.add([event])
            elif kind == "fit_start":
                run.fit_starts.append(event)  # type: ignore[arg-type]
            elif kind == "epoch_end":
                self.trained = True
                run.epoch_times.append(event.t)
            elif kind == "alarm":
                alarm: Alarm = event  # type: ignore[assignment]
                if alarm.state == "raised" and alarm.severity != "info":
                    what = alarm.kind + (f" ({alarm.subject})" if alarm.subject else "")
                    if what not in self._alarms_seen:
                        self._alarms_seen.add(what)
                        run.alarms.append(what)


def fold_runs(inputs: Sequence[Any]) -> tuple[Comparison, list[str]]:
    """A comparison of runs whose events come in chunks, each folded as it comes.

    Args:
        inputs: per input, in the order given, something with ``name``, ``kind``
            and ``chunks`` (an iterable of event lists:
            :class:`~kmon.engine.log.compare_inputs.OpenedRun`), or a line saying
            why it could not be opened.

    Returns:
        The comparison, and one line per input that is not a run, in their order:
        those given, and each input that held no epoch and no batch.
    """
    folded: list[ComparedRun] = []
    problems: list[str] = []
    for item in inputs:
        if isinstance(item, str):
            problems.append(item)
            continue
        folder = RunFolder(len(folded), item.name, item.kind, getattr(item, "batch_log", None))
        for chunk in item.chunks:
            folder.add(chunk)
        if folder.trained:
            folded.append(folder.run)
        else:
            why = "not a run: no epochs or batches" if folder.seen else "not a kmon event log"
            problems.append(f"{item.name}: {why}")
    comparison = Comparison([])
    comparison.runs = folded
    return comparison, problems


def _fold(index: int, name: str, kind: str, events: list[Event]) -> ComparedRun:
    folder = RunFolder(index, name, kind)
    folder.add(events)
    return folder.run
