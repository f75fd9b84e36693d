"""The records a :class:`~kmon.engine.view.state.RunState` keeps: one per fit, one per
finished epoch with its batch-loss statistics, one per line the script printed."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import reduce
from operator import add, mul

from kmon.engine.format import format_value


@dataclass(slots=True)
class FitInfo:
    fit: int
    epochs: int
    steps: int | None
    outputs: list[str]
    model: str | None
    initial_epoch: int
    epoch_offset: int
    """Epochs completed by earlier fits: on screen, epochs continue across fits."""
    train_mode_layers: list[str] = field(default_factory=list)
    weighting: str | None = None
    value_kinds: dict[str, str] = field(default_factory=dict)
    stopped_early: bool = False
    """The fit ended before its last epoch: ``model.stop_training`` was set."""
    model_index: int | None = None
    segment: int = 0
    """Index in :attr:`RunState.segments` of the model this fit trains."""
    early_stopping: list[str] | None = None
    """Its callbacks that can end it early (EarlyStopping...); None when unknown."""
    steps_per_execution: int = 1
    """Keras reports once per this many steps: kmon recovers each execution's mean."""


@dataclass(slots=True)
class EpochRecord:
    fit: int
    epoch: int
    number: int
    """1-based epoch number across the whole run."""
    logs: dict[str, float]
    seconds: float | None
    steps: int
    batch_losses: BatchLossStats | None = None
    """The batch losses recovered in this epoch, when every one was recoverable."""
    train_eval: dict[str, float] | None = None
    segment: int = 0
    """The :class:`ModelSegment` (its number) of the model this epoch trained."""
    baselines: dict[str, float] = field(default_factory=dict)
    """Training loss keys (``loss``, ``<head>_loss``) -> the constant-predictor loss
    of this epoch's fit, where known."""
    ended: float | None = None
    """When the epoch ended (its ``epoch_end``'s ``t``), for charts by time."""
    recovered_losses: int = 0
    """Batches of this epoch whose recovered loss its statistics hold (every batch
    when :attr:`batch_losses` is set)."""
    unrecovered_losses: int = 0
    """Batches of this epoch whose loss was not recoverable: one is enough to leave
    :attr:`batch_losses` unset, since their mean can no longer be told."""


@dataclass(slots=True)
class BatchLossStats:
    """Per-batch losses of one epoch, recovered from Keras's running means."""

    count: int = 0
    samples: int = 0
    weighted_sum: float = 0.0
    plain_sum: float = 0.0
    """The losses summed with each batch counting once (a per-step mean's)."""
    low: float = math.inf
    high: float = -math.inf
    last_size: int = 0
    largest: int = 0
    non_finite: int = 0
    """Batches whose loss was NaN or infinite (left out of ``low`` and ``high``)."""
    complete: bool = True
    unrecovered: int = 0
    """Batches whose loss was not recoverable (None)."""

    def add(self, value: float | None, size: int | None, span: int) -> None:
        if value is None or size is None or span != 1:
            self.complete = False
            self.unrecovered += value is None
            return
        self.count += 1
        self.samples += size
        self.weighted_sum += value * size
        self.plain_sum += value
        if math.isfinite(value):
            # Comparisons, not min()/max(): this runs for every batch.
            if value < self.low:
                self.low = value
            if value > self.high:
                self.high = value
        else:
            self.non_finite += 1
        self.last_size = size
        if size > self.largest:
            self.largest = size

    def add_all(self, values: list, sizes: list, spans: list) -> None:
        """:meth:`add` each (value, size, span), to the same sums (in the same
        order), faster where every batch has its size and a span of 1: the values
        not recoverable (None; late in an epoch whose float32 totals dwarf its
        losses, a few a hundred) counted, the others summed as one run."""
        count = len(values)
        if count and None not in sizes and spans.count(1) == count:
            unrecovered = values.count(None)
            found = [v for v in values if v is not None] if unrecovered else values
            # A sum is finite only when every value is: else the one-by-one way
            # counts the NaNs and infinities.
            if found and math.isfinite(reduce(add, found, 0.0)):
                if unrecovered:
                    self.complete = False
                    self.unrecovered += unrecovered
                    sizes = [size for value, size in zip(values, sizes) if value is not None]
                self.take_run(
                    sizes,
                    reduce(add, map(mul, found, sizes), self.weighted_sum),
                    reduce(add, found, self.plain_sum),
                    min(found),
                    max(found),
                )
                return
        for value, size, span in zip(values, sizes, spans):
            self.add(value, size, span)

    def take_run(
        self, sizes: list, weighted_sum: float, plain_sum: float, low: float, high: float
    ) -> None:
        """A run of batches that all count (finite values, sizes, spans of 1): their
        ``sizes``, the sums with them (this record's sums carried on, left to right),
        their lowest and highest value."""
        self.count += len(sizes)
        self.samples += sum(sizes)
        self.weighted_sum, self.plain_sum = weighted_sum, plain_sum
        if low < self.low:
            self.low = low
        if high > self.high:
            self.high = high
        self.last_size = sizes[-1]
        largest = max(sizes)
        if largest > self.largest:
            self.largest = largest

    @property
    def mean(self) -> float:
        return self.weighted_sum / self.samples if self.samples else math.nan

    @property
    def step_mean(self) -> float:
        """The mean with every batch counting once, whatever its size."""
        return self.plain_sum / self.count if self.count else math.nan

    def describe_range(self) -> str:
        """``0.31…0.58``, saying how many batches were non-finite."""
        parts = []
        if self.non_finite < self.count:
            parts.append(f"{format_value(self.low)} … {format_value(self.high)}")
        if self.non_finite:
            parts.append(f"{self.non_finite} non-finite")
        return ", ".join(parts)


@dataclass(slots=True)
class LogLine:
    number: int
    """1-based count of lines the run has printed, for incremental display."""
    stream: str
    text: str
