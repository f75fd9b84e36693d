"""The tests' event streams: built by hand with :class:`EventStream`, or read from a
recording in ``tests/data`` with :func:`load_events`.

Both give real :mod:`kmon.engine.events` objects, in the order kmon sends them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from locations import DATA

from kmon.engine.events import (
    Batch,
    EpochEnd,
    EpochStart,
    Event,
    FitEnd,
    FitStart,
    Log,
    Notice,
    RunEnd,
    RunStart,
    ScriptStart,
    TrainEval,
    ValEnd,
    ValueKinds,
)
from kmon.engine.head_map import HeadMap
from kmon.engine.log.eventlog import read_events


def load_events(name: str) -> list[Event]:
    """The events of ``tests/data/<name>.jsonl``; the recording must read cleanly."""
    events, report = read_events(DATA / f"{name}.jsonl")
    assert report.skipped == 0 and not report.truncated_tail, report
    return events


class EventStream:
    """A run's events, built one call at a time; every call returns the stream.

    ::

        stream = EventStream().run_start("/x/train.py").fit_start(epochs=1, steps=2)
        stream.epoch([0.9, 0.7]).fit_end().run_end()
        RecordedSource(stream.events)  # or, a piece at a time: source.put(*stream.take())

    The stream numbers fits, epochs and steps as Keras does (a ``fit_start`` is the
    next fit of the run, its first epoch is ``initial_epoch``, steps count from 0
    in each epoch); any number given as a field wins and the count goes on from it,
    as it does after events built elsewhere (:meth:`extend`).

    Times: every event is stamped ``tick`` seconds after the one before, plus what
    :meth:`wait` adds; an event given ``t=`` sets the clock there. A stream started
    at ``None`` leaves every event the wall clock, as a live run's events have.
    """

    def __init__(self, start: float | None = 1000.0, *, tick: float = 0.0) -> None:
        self.events: list[Event] = []
        self.t = start
        self.tick = tick
        self.fit_number = 0
        self.epoch_number = 0
        self.next_step = 0
        self._fits = 0
        self._next_epoch = 0
        self._epoch_logs: dict[str, float] = {}
        self._taken = 0

    def __iter__(self) -> Iterator[Event]:
        return iter(self.events)

    def __len__(self) -> int:
        return len(self.events)

    def take(self) -> list[Event]:
        """The events added since the last ``take()``: to feed a run a piece at a
        time to a state or a live source."""
        taken, self._taken = self.events[self._taken :], len(self.events)
        return taken

    # -- the clock --------------------------------------------------------------------

    def wait(self, seconds: float) -> EventStream:
        """Let ``seconds`` pass before the next event."""
        if self.t is not None:
            self.t += seconds
        return self

    def add(self, cls: type[Event], **fields: Any) -> EventStream:
        """Append a ``cls`` event with ``fields``, stamped by the stream's clock."""
        if "t" not in fields and self.t is not None:
            fields["t"] = self.t + self.tick
        return self.extend([cls(**fields)])

    def extend(self, events: Iterable[Event]) -> EventStream:
        """Append events as they are; the stream's clock and counts go on from them."""
        for event in events:
            self.events.append(event)
            self._follow(event)
        return self

    def _follow(self, event: Event) -> None:
        if self.t is not None:
            self.t = event.t
        if isinstance(event, RunStart):
            self._fits = 0  # a new run in the same log numbers its fits from 0 again
        elif isinstance(event, FitStart):
            self.fit_number, self._fits = event.fit, event.fit + 1
            self._next_epoch = event.initial_epoch
        elif isinstance(event, EpochStart):
            self.epoch_number, self._next_epoch = event.epoch, event.epoch + 1
            self.next_step, self._epoch_logs = 0, {}
        elif isinstance(event, Batch):
            self.next_step, self._epoch_logs = event.step + 1, event.logs

    # -- the run ----------------------------------------------------------------------

    def run_start(self, script: str | None = "/x/train.py", **fields: Any) -> EventStream:
        """A run starts (a new run in the same log numbers its fits from 0 again)."""
        return self.add(RunStart, script=script, **fields)

    def script_start(self) -> EventStream:
        return self.add(ScriptStart)

    def run_end(self, status: str = "ok", exit_code: int = 0, **fields: Any) -> EventStream:
        """The run ends; ``fits`` is how many this run started, unless given."""
        fields.setdefault("fits", self._fits)
        return self.add(RunEnd, status=status, exit_code=exit_code, **fields)

    def log(self, text: str, stream: str = "stdout") -> EventStream:
        """A line the script printed."""
        return self.add(Log, stream=stream, text=text)

    def notice(self, text: str, level: str = "info", **fields: Any) -> EventStream:
        """Something kmon tells the user."""
        return self.add(Notice, text=text, level=level, **fields)

    # -- a fit ------------------------------------------------------------------------

    def fit_start(
        self,
        epochs: int = 1,
        steps: int | None = None,
        *,
        heads: HeadMap | None = None,
        **fields: Any,
    ) -> EventStream:
        """The run's next ``fit()`` starts; ``heads`` is its head map, if known."""
        fields.setdefault("fit", self._fits)
        return self.add(FitStart, epochs=epochs, steps=steps, heads=heads, **fields)

    def value_kinds(self, kinds: dict[str, str], **fields: Any) -> EventStream:
        """How the fit's log keys are recovered per batch (sent before its first batch)."""
        return self.add(ValueKinds, fit=self.fit_number, kinds=kinds, **fields)

    def fit_end(self, stopped_early: bool = False) -> EventStream:
        return self.add(FitEnd, fit=self.fit_number, stopped_early=stopped_early)

    # -- an epoch ---------------------------------------------------------------------

    def epoch_start(self, **fields: Any) -> EventStream:
        """The fit's next epoch starts."""
        fields.setdefault("epoch", self._next_epoch)
        fields.setdefault("fit", self.fit_number)
        return self.add(EpochStart, **fields)

    def batch(
        self,
        logs: dict[str, float] | None = None,
        values: dict[str, float | None] | None = None,
        **fields: Any,
    ) -> EventStream:
        """The epoch's next batch: ``logs`` as Keras passes them (running means),
        ``values`` the batch's own values as kmon recovered them."""
        fields.setdefault("fit", self.fit_number)
        fields.setdefault("epoch", self.epoch_number)
        fields.setdefault("step", self.next_step)
        return self.add(Batch, logs=logs or {}, values=values, **fields)

    def batches(
        self,
        losses: Iterable[float],
        *,
        size: int | None = None,
        every: float = 0.0,
        key: str = "loss",
    ) -> EventStream:
        """One batch per value of ``losses``, each ``every`` seconds after the one
        before: its ``values`` the batch's own loss, its ``logs`` the running mean
        Keras logs (batches of equal size)."""
        total = 0.0
        for count, value in enumerate(losses, start=1):
            total += value
            self.wait(every)
            self.batch({key: total / count}, {key: value}, size=size)
        return self

    def val_end(self, logs: dict[str, float]) -> EventStream:
        """Validation after the epoch's batches; ``logs`` unprefixed."""
        return self.add(ValEnd, fit=self.fit_number, epoch=self.epoch_number, logs=logs)

    def train_eval(self, logs: dict[str, float]) -> EventStream:
        return self.add(TrainEval, fit=self.fit_number, epoch=self.epoch_number, logs=logs)

    def epoch_end(self, logs: dict[str, float] | None = None, **fields: Any) -> EventStream:
        """The epoch ends; ``logs`` are History's, by default the last batch's logs
        (History keeps the running means of the epoch's last batch)."""
        logs = dict(self._epoch_logs) if logs is None else logs
        fields.setdefault("fit", self.fit_number)
        fields.setdefault("epoch", self.epoch_number)
        return self.add(EpochEnd, logs=logs, **fields)

    def epoch(
        self, losses: Iterable[float], *, size: int | None = None, every: float = 0.0
    ) -> EventStream:
        """A whole epoch: its start, :meth:`batches` of ``losses``, its end."""
        return self.epoch_start().batches(losses, size=size, every=every).epoch_end()

    # -- as a log file ----------------------------------------------------------------

    def lines(self) -> list[str]:
        """The events as the lines of a kmon event log."""
        return [event.to_json() for event in self.events]

    def write(self, path: Path) -> Path:
        """Write the stream as a finished event log at ``path``."""
        path.write_text("".join(f"{line}\n" for line in self.lines()), encoding="utf-8")
        return path
