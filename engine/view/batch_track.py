"""One compared run's batches over all its models, with their times: what the
compare's per-batch view draws on any x axis.

A run's :class:`~kmon.engine.view.state.RunState` keeps its current model's batch
series only (losses of different models share no scale on one monitor); a compare
overlays whole runs, so it keeps its own bounded series per log key, numbered by
the run's batch, beside the batches' times in buckets of the same width.

A kmon log's track is made from its batches read as columns, in a worker process,
only when the per-batch view is first shown (:meth:`BatchTrack.from_columns`).
"""

from __future__ import annotations

from kmon.engine.series import BatchKeySeries


class BatchTrack(BatchKeySeries):
    """Per-batch values of the keys every batch so far logged: Keras's running
    means, and the batches' own recovered values while every batch had one, to
    draw on any x axis.

    Args:
        capacity: buckets kept per series.
    """

    @classmethod
    def from_columns(cls, columns: BatchKeySeries) -> BatchTrack:
        """The track of a log's batches read elsewhere
        (:class:`~kmon.engine.log.compare_read.BatchColumns`): its series, adopted."""
        track = cls(columns.capacity)
        track.count = columns.count
        track.times = columns.times
        track.running = dict(columns.running)
        track.values = dict(columns.values)
        track.dropped = list(columns.dropped)
        return track

    def points(
        self, key: str, started: float | None, x_axis: str
    ) -> tuple[list[tuple[float, float]], bool] | None:
        """(x, mean of each bucket) of ``key`` and whether they are the batches' own
        values (else Keras's running means); None when the run has no such series.

        Args:
            key: a log key.
            started: the run's start, for ``x_axis`` "since start".
            x_axis: "batch" (the run's batch number, from 1), "wall" (the time of
                the bucket's first batch) or "since start" (that less ``started``).
        """
        own = key in self.values
        series = self.values[key] if own else self.running.get(key)
        if series is None or not series.buckets:
            return None
        times, width = self.times.buckets, self.times.width
        points = []
        for bucket in series.buckets:
            if x_axis == "batch":
                x = float(bucket.first_index + 1)
            else:
                x = times[bucket.first_index // width].low
                if x_axis == "since start":
                    x -= started if started is not None else times[0].low
            points.append((x, bucket.mean))
        return points, own
