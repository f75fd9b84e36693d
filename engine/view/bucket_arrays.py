"""Filling bounded series from numpy arrays: a replay's columnar fold.

The same buckets, sums and averages as :class:`~kmon.engine.series.BucketSeries`
and :class:`~kmon.engine.series.SmoothedSeries` make value by value, for a
column of a thousand batches at once (``tests/engine/test_column_fold.py`` holds
them to ``append``, bucket for bucket). numpy is imported by the caller (the
reader imported it for the columns); sums are added left to right
(:func:`sum_in_order`), never pairwise.
"""

from __future__ import annotations

from itertools import repeat

from kmon.engine.series import EXTEND_AT_ONCE, Bucket, BucketSeries, SmoothedSeries


def extend_array(series: BucketSeries, values) -> None:
    """:meth:`BucketSeries.extend` of a numpy float array, to the same buckets:
    minima and maxima by rows of one bucket's width, sums added left to right
    (``numpy.add.accumulate``: a plain ``sum`` would add pairwise, to other
    roundings). An array with a non-finite value goes the one-by-one way."""
    import numpy  # noqa: PLC0415 - only a replay's columnar fold needs it

    count = len(values)
    if count < EXTEND_AT_ONCE or not numpy.isfinite(values).all():
        series.extend(values.tolist())
        return
    # One errstate for every sum (entering one costs as much as a row's sum): a sum
    # past a float's range is inf, as in Python.
    with numpy.errstate(over="ignore"):
        lows, highs = _fill_buckets(numpy, series, values, count)
    series.points += count
    series.last = float(values[-1])
    low, high = min(lows), max(highs)
    if low < series.low:
        series.low = low
    if high > series.high:
        series.high = high


def _fill_buckets(numpy, series: BucketSeries, values, count: int) -> tuple[list, list]:
    """The buckets of :func:`extend_array` (``series.points`` not moved yet); the
    minima and maxima of the values each took."""
    least, most, accumulate = numpy.minimum.reduce, numpy.maximum.reduce, numpy.add.accumulate
    start, lows, highs = series.points, [], []
    buckets, done = series.buckets, 0
    if buckets and buckets[-1].count < series.width:
        done = min(series.width - buckets[-1].count, count)
        bucket, chunk = buckets[-1], values[:done]
        bucket.count += done
        low, high = float(least(chunk)), float(most(chunk))
        lows.append(low)
        highs.append(high)
        if low < bucket.low:
            bucket.low = low
        if high > bucket.high:
            bucket.high = high
        bucket.total = float(accumulate(numpy.append(bucket.total, chunk))[-1])
        bucket.last = float(chunk[-1])
    while done < count:
        if len(buckets) == series.capacity:
            series._halve()  # every bucket is full: see BucketSeries.extend
            buckets = series.buckets
        width = series.width
        rows = min(series.capacity - len(buckets), -(-(count - done) // width))
        whole = min(rows, (count - done) // width)
        if whole:
            block = values[done : done + whole * width].reshape(whole, width)
            row_lows, row_highs = least(block, axis=1).tolist(), most(block, axis=1).tolist()
            totals = accumulate(block, axis=1)[:, -1].tolist()
            lasts = block[:, -1].tolist()
            lows += row_lows
            highs += row_highs
            # By map, as BucketSeries.extend makes them: a young series' narrow
            # buckets are hundreds a block.
            firsts = range(start + done, start + done + whole * width, width)
            buckets += map(Bucket, firsts, repeat(width), row_lows, row_highs, totals, lasts)
            done += whole * width
        if whole < rows:  # the last values, fewer than a bucket's width
            chunk = values[done:]
            low, high = float(least(chunk)), float(most(chunk))
            lows.append(low)
            highs.append(high)
            buckets.append(
                Bucket(start + done, len(chunk), low, high, float(accumulate(chunk)[-1]), float(chunk[-1]))
            )
            done = count
    return lows, highs


def add_smoothed_array(series: SmoothedSeries, values) -> None:
    """:meth:`SmoothedSeries.add_all` of a numpy float array, its buckets filled by
    :func:`extend_array`. Once the average's bias correction is 1.0 (after a few
    hundred values) its steps are taken a block at a time (:func:`_smoothed`):
    the same numbers to within a few units of the last place, where the steps one
    by one cost a Python loop's 50-70 ns a value."""
    import numpy  # noqa: PLC0415 - only a replay's columnar fold needs it

    if len(values) < EXTEND_AT_ONCE or not numpy.isfinite(values).all():
        series.add_all(values.tolist())
        return
    if 1 - series.beta**series._count != 1.0:
        extend_array(series, numpy.array(series.smooth(values.tolist())))
        return
    smoothed = _smoothed(numpy, series.beta, series._average, values)
    series._average = float(smoothed[-1])
    series._count += len(values)
    extend_array(series, smoothed)


#: Values a block of :func:`_smoothed` takes (one small matrix product each).
SMOOTH_BLOCK = 64
_smoothing: dict[float, tuple] = {}


def _smoothed(numpy, beta: float, average: float, values):
    """The averages ``average = beta * average + (1 - beta) * value`` takes over
    ``values``, a block of :data:`SMOOTH_BLOCK` values at a time: within a block
    each average is the weighted sum of the block's values so far (a
    lower-triangular matrix of powers of ``beta``) plus the average carried into
    the block times ``beta ** k``; only the carries go one block at a time."""
    if beta not in _smoothing:
        steps = numpy.arange(SMOOTH_BLOCK)
        apart = steps[:, None] - steps[None, :]
        weights = numpy.where(apart >= 0, beta ** numpy.maximum(apart, 0), 0.0)
        _smoothing[beta] = (
            numpy.ascontiguousarray(weights.T * (1 - beta)),
            beta ** numpy.arange(1, SMOOTH_BLOCK + 1, dtype=float),
        )
    weights, decays = _smoothing[beta]
    count = len(values)
    blocks = -(-count // SMOOTH_BLOCK)
    padded = numpy.zeros(blocks * SMOOTH_BLOCK)
    padded[:count] = values
    within = padded.reshape(blocks, SMOOTH_BLOCK) @ weights
    decay, carried = float(decays[-1]), [average]
    for block_end in within[:-1, -1].tolist():
        average = decay * average + block_end
        carried.append(average)
    within += numpy.multiply.outer(numpy.array(carried), decays)
    return within.reshape(-1)[:count]


def sum_in_order(numpy, values) -> float:
    """``values`` (a numpy array) added left to right, as :func:`functools.reduce`
    adds them: the same float, where ``numpy.sum`` adds pairwise."""
    with numpy.errstate(over="ignore"):
        return float(numpy.add.accumulate(values)[-1])
