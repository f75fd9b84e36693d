"""Filling bounded series from numpy arrays: a replay's columnar fold.

The same buckets, sums and averages as :class:`~kmon.engine.series.BucketSeries`
and :class:`~kmon.engine.series.SmoothedSeries` make value by value, for a
column of a thousand batches at once (``tests/engine/test_column_fold.py`` holds
them to ``append``, bucket for bucket). numpy is imported by the caller (the
reader imported it for the columns); sums are added left to right
(:func:`sum_in_order`), never pairwise.
"""

from __future__ import annotations

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
    start = series.points
    series.points += count
    series.last = float(values[-1])
    low, high = float(values.min()), float(values.max())
    if low < series.low:
        series.low = low
    if high > series.high:
        series.high = high
    buckets, done = series.buckets, 0
    if buckets and buckets[-1].count < series.width:
        done = min(series.width - buckets[-1].count, count)
        bucket, chunk = buckets[-1], values[:done]
        bucket.count += done
        low, high = float(chunk.min()), float(chunk.max())
        if low < bucket.low:
            bucket.low = low
        if high > bucket.high:
            bucket.high = high
        bucket.total = sum_in_order(numpy, numpy.append(bucket.total, chunk))
        bucket.last = float(chunk[-1])
    while done < count:
        if len(buckets) == series.capacity:
            series._halve()  # every bucket is full: see BucketSeries.extend
            buckets = series.buckets
        width = series.width
        rows = min(series.capacity - len(buckets), -(-(count - done) // width))
        whole = min(rows, (count - done) // width)
        block = values[done : done + whole * width].reshape(whole, width)
        lows, highs = block.min(axis=1).tolist(), block.max(axis=1).tolist()
        with numpy.errstate(over="ignore"):  # a sum past a float's range is inf, as in Python
            totals = numpy.add.accumulate(block, axis=1)[:, -1].tolist()
        lasts = block[:, -1].tolist()
        for row in range(whole):
            buckets.append(
                Bucket(start + done, width, lows[row], highs[row], totals[row], lasts[row])
            )
            done += width
        if whole < rows:  # the last values, fewer than a bucket's width
            chunk = values[done:]
            buckets.append(
                Bucket(
                    start + done,
                    len(chunk),
                    float(chunk.min()),
                    float(chunk.max()),
                    sum_in_order(numpy, chunk),
                    float(chunk[-1]),
                )
            )
            done = count


def add_smoothed_array(series: SmoothedSeries, values) -> None:
    """:meth:`SmoothedSeries.add_all` of a numpy float array, to the same numbers:
    the average's steps one by one (each rounds as the series' own), its buckets
    filled by :func:`extend_array`."""
    import numpy  # noqa: PLC0415 - only a replay's columnar fold needs it

    if len(values) < EXTEND_AT_ONCE or not numpy.isfinite(values).all():
        series.add_all(values.tolist())
        return
    extend_array(series, numpy.array(series.smooth(values.tolist())))


def sum_in_order(numpy, values) -> float:
    """``values`` (a numpy array) added left to right, as :func:`functools.reduce`
    adds them: the same float, where ``numpy.sum`` adds pairwise."""
    with numpy.errstate(over="ignore"):
        return float(numpy.add.accumulate(values)[-1])
