"""Fixed-size history buffers for long time series.

A run of a million batches must not keep a million floats per series, and a spike
must not vanish into an average. :class:`BucketSeries` keeps at most ``capacity``
buckets; each bucket covers ``width`` consecutive points and remembers their min,
max, sum and last value. When full, neighbouring buckets merge pairwise and the
width doubles, so memory stays fixed and every extreme survives.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial, reduce
from itertools import repeat
from operator import add, itemgetter

#: Below this many values, :meth:`BucketSeries.extend` appends them one by one.
EXTEND_AT_ONCE = 32

#: A chunk's sum as :meth:`Bucket.add` makes it: left to right from its first value.
_total = partial(reduce, add)


@dataclass(slots=True)
class Bucket:
    """Summary of ``count`` consecutive points."""

    first_index: int
    count: int
    low: float
    high: float
    total: float
    last: float

    @property
    def mean(self) -> float:
        return self.total / self.count

    def add(self, value: float) -> None:
        # Comparisons, not min()/max(): this runs for every batch, on the UI thread.
        self.count += 1
        if value < self.low:
            self.low = value
        if value > self.high:
            self.high = value
        self.total += value
        self.last = value

    def merged_with(self, other: Bucket) -> Bucket:
        return Bucket(
            first_index=self.first_index,
            count=self.count + other.count,
            low=min(self.low, other.low),
            high=max(self.high, other.high),
            total=self.total + other.total,
            last=other.last,
        )


class BucketSeries:
    """A bounded series of min/max buckets.

    Non-finite values (NaN, inf) are counted in :attr:`non_finite` and not added to
    buckets: one NaN must not turn every later summary into NaN. The UI shows the
    count, and NaN alarms are raised elsewhere from the raw events.

    Args:
        capacity: most buckets kept; an even number of at least 2.
    """

    def __init__(self, capacity: int = 512) -> None:
        if capacity < 2 or capacity % 2:
            raise ValueError("capacity must be an even number >= 2")
        self.capacity = capacity
        self.width = 1
        self.buckets: list[Bucket] = []
        self.points = 0
        self.non_finite = 0
        self.low = math.inf
        self.high = -math.inf
        self.last: float | None = None

    def __len__(self) -> int:
        return self.points

    def append(self, value: float) -> None:
        index = self.points
        self.points += 1
        if not math.isfinite(value):
            self.non_finite += 1
            self.last = value
            return
        self.last = value
        if value < self.low:
            self.low = value
        if value > self.high:
            self.high = value
        buckets = self.buckets
        if buckets and buckets[-1].count < self.width:
            buckets[-1].add(value)
            return
        if len(buckets) == self.capacity:
            self._halve()
            buckets = self.buckets
            if buckets[-1].count < self.width:
                buckets[-1].add(value)
                return
        buckets.append(Bucket(index, 1, value, value, value, value))

    def extend(self, values) -> None:
        """Append each value, bucket by bucket rather than one by one: the same
        buckets, with the same sums (added in the same order), as :meth:`append`
        gives (``tests/engine/test_fast_decode.py`` compares them)."""
        values = values if isinstance(values, list) else list(values)
        count = len(values)
        if count < EXTEND_AT_ONCE or not math.isfinite(reduce(add, values, 0.0)):
            # A sum is finite only when every value is: else the one-by-one way
            # counts the NaNs and infinities.
            for value in values:
                self.append(value)
            return
        start = self.points
        self.points += count
        self.last = values[-1]
        low, high = min(values), max(values)
        if low < self.low:
            self.low = low
        if high > self.high:
            self.high = high
        buckets, width, done = self.buckets, self.width, 0
        if buckets and buckets[-1].count < width:
            done = min(width - buckets[-1].count, count)
            self._fill(buckets[-1], values[:done])
        while done < count:
            if len(buckets) == self.capacity:
                # Every bucket is full (a new one is made only after the last
                # filled), so after merging pairs every bucket is full again.
                self._halve()
                buckets, width = self.buckets, self.width
            # The new buckets up to the room left, each a chunk of ``width`` values
            # (the last one's may be short), made by map: a live fold's blocks of a tape
            # reach here at every frame, a series' first 512 values a bucket each.
            end = min(count, done + (self.capacity - len(buckets)) * width)
            firsts = range(start + done, start + end, width)
            if width == 1:
                chunk = values[done:end]
                buckets += map(Bucket, firsts, repeat(1), chunk, chunk, chunk, chunk)
            else:
                chunks = [values[index : index + width] for index in range(done, end, width)]
                buckets += map(
                    Bucket, firsts, map(len, chunks), map(min, chunks), map(max, chunks),
                    map(_total, chunks), map(itemgetter(-1), chunks),
                )  # fmt: skip
            done = end

    @staticmethod
    def _fill(bucket: Bucket, chunk: list[float]) -> None:
        """:meth:`Bucket.add` for each value of ``chunk``."""
        bucket.count += len(chunk)
        low, high = min(chunk), max(chunk)
        if low < bucket.low:
            bucket.low = low
        if high > bucket.high:
            bucket.high = high
        bucket.total = reduce(add, chunk, bucket.total)
        bucket.last = chunk[-1]

    def _halve(self) -> None:
        pairs = self.buckets
        self.buckets = [pairs[i].merged_with(pairs[i + 1]) for i in range(0, len(pairs), 2)]
        self.width *= 2

    def highs(self, columns: int | None = None) -> list[float]:
        """Bucket maxima, resampled to at most ``columns`` values (max of maxima)."""
        return self._resample(columns, "high", max)

    def lows(self, columns: int | None = None) -> list[float]:
        """Bucket minima, resampled to at most ``columns`` values (min of minima)."""
        return self._resample(columns, "low", min)

    def _resample(self, columns: int | None, attr: str, pick) -> list[float]:
        values = [getattr(bucket, attr) for bucket in self.buckets]
        if columns is None or len(values) <= columns or columns <= 0:
            return values
        step = len(values) / columns
        return [
            pick(values[int(i * step) : max(int((i + 1) * step), int(i * step) + 1)])
            for i in range(columns)
        ]


class MetricSeries:
    """One logged metric, batch by batch: Keras's running mean over the epoch and,
    where kmon recovered them, the batch's own values (for a model that logs no
    ``loss``, such as a GAN's ``d_loss`` and ``g_loss``).

    Args:
        key: the log key.
        capacity: buckets kept per series.
    """

    __slots__ = ("key", "running", "values")

    def __init__(self, key: str, capacity: int = 512) -> None:
        self.key = key
        self.running = BucketSeries(capacity)
        self.values = BucketSeries(capacity)

    def add(self, mean: float, value: float | None) -> None:
        self.running.append(float(mean))
        if value is not None:
            self.values.append(value)


class SmoothedSeries(BucketSeries):
    """A bias-corrected exponential moving average of the values appended, kept as
    min/max buckets. A non-finite value is kept as it is and leaves the average
    alone, so a NaN batch shows without poisoning every later point.

    Args:
        beta: weight of the past (0.9: about the last ten values).
        capacity: buckets kept.
    """

    def __init__(self, beta: float, capacity: int = 512) -> None:
        super().__init__(capacity)
        self.beta = beta
        self._average = 0.0
        self._count = 0

    def add(self, value: float) -> None:
        if not math.isfinite(value):
            self.append(value)
            return
        self._average = self.beta * self._average + (1 - self.beta) * value
        self._count += 1
        self.append(self._average / (1 - self.beta**self._count))

    def add_all(self, values: list[float]) -> None:
        """:meth:`add` each value, to the same numbers, faster."""
        if len(values) < EXTEND_AT_ONCE or not math.isfinite(reduce(add, values, 0.0)):
            for value in values:
                self.add(value)
            return
        self.extend(self.smooth(values))

    def smooth(self, values: list[float]) -> list[float]:
        """The averages :meth:`add` would append for ``values`` (finite floats), the
        series' average moved past them; the caller appends them."""
        beta, average, count = self.beta, self._average, self._count
        weight = 1 - beta
        smoothed: list[float] = []
        keep = smoothed.append
        index, total = 0, len(values)
        # The bias correction divides by 1 - beta**count, which is exactly 1.0 after
        # a few hundred values (0.9**k < 2**-54): from there on the average is kept
        # as it is, the same number that dividing by 1.0 gives.
        while index < total:
            average = beta * average + weight * values[index]
            count += 1
            index += 1
            correction = 1 - beta**count
            keep(average / correction)
            if correction == 1.0:
                break
        # The same expression as add's, in a comprehension: a third of a loop's time.
        smoothed += [average := beta * average + weight * value for value in values[index:]]
        self._average, self._count = average, count + (total - index)
        return smoothed


#: Log keys of a run followed per batch (the first ones its first batch logs).
TRACKED_KEYS = 8


class BatchKeySeries:
    """A run's batches as bounded series per log key: Keras's running means, the
    batches' own recovered values, and their times, in buckets of one width.

    What a compare's per-batch view draws, however long the run: a few KB, read in a
    worker process and sent back (:class:`~kmon.engine.log.compare_read.BatchColumns`)
    or folded in place (:class:`~kmon.engine.view.batch_track.BatchTrack`).

    Args:
        capacity: buckets kept per series.
    """

    def __init__(self, capacity: int = 512) -> None:
        self.capacity = capacity
        self.count = 0
        """Batches added."""
        self.times = BucketSeries(capacity)
        """Each batch's ``t``: every time is finite, so its buckets cover the same
        batches as a key's series of finite values."""
        self.running: dict[str, BucketSeries] = {}
        """Keras's running mean per key, for the keys every batch so far logged."""
        self.values: dict[str, BucketSeries] = {}
        """The batches' recovered values per key, while every batch had one."""
        self.dropped: list[str] = []
        """Keys some batch did not log: not followed (their batch numbers would not
        be the run's)."""

    def add(self, batches: Sequence) -> None:
        """Add batch events or decoded batch lines (``t``, ``logs``, ``values``), in order."""
        if not batches:
            return
        if not self.count:
            for key in list(batches[0].logs)[:TRACKED_KEYS]:
                self.running[key] = BucketSeries(self.capacity)
                self.values[key] = BucketSeries(self.capacity)
        self.count += len(batches)
        self.times.extend([batch.t for batch in batches])
        logs = [batch.logs for batch in batches]
        recovered = [batch.values or {} for batch in batches]
        for key in list(self.running):
            means = [entry.get(key) for entry in logs]
            if None in means:
                del self.running[key]
                self.values.pop(key, None)
                self.dropped.append(key)
                continue
            self.running[key].extend(means)
            if key in self.values:
                own = [entry.get(key) for entry in recovered]
                if None in own:
                    del self.values[key]
                else:
                    self.values[key].extend(own)


def debiased_ema(values, beta: float) -> list[float]:
    """The bias-corrected EMA of ``values`` that :class:`SmoothedSeries` keeps, as a
    list (for a chart drawn again at another ``beta``). A non-finite value is kept
    as it is and leaves the average alone; ``beta`` 0 gives the values back."""
    average, count, smoothed = 0.0, 0, []
    for value in values:
        if not math.isfinite(value):
            smoothed.append(value)
            continue
        average = beta * average + (1 - beta) * value
        count += 1
        smoothed.append(average / (1 - beta**count))
    return smoothed
