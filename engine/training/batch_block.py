"""A run of recovered batches as columns: what a batch tape becomes for its sinks.

A fit on TensorFlow ships its batch ends as tapes (:mod:`.batch_tape`). Making a
:class:`~kmon.engine.events.Batch` of each recovered batch, then folding and encoding
them one by one, cost the sinks' threads about 10 µs a batch. A tape is recovered
into :class:`BatchBlock` s instead: the batches' steps, sizes, times and spans as
lists, Keras's running means as the dicts it passed, and the recovered values one
list a key. The monitor folds a block at once, the writer spells its lines from the
columns; :meth:`BatchBlock.events` makes the batch events it stands for, for
whatever reads events one by one. A block is no event of the log: the log holds its
batch events, byte for byte.

Every batch of a block is of one fit and one epoch, logs the same keys in the same
order, and has values for those keys, or none has (``values`` is None).
"""

from __future__ import annotations

from kmon.engine.events import Batch


class BatchBlock:
    """Consecutive batch events of one fit and epoch, as columns.

    Attributes:
        type: ``"batch_block"``, so consumers tell it from events without isinstance.
        fit: the fit's number.
        epoch: the epoch's.
        keys: the keys every batch logs, in Keras's order.
        steps: each batch's last step.
        sizes: each batch's samples (None where unknown).
        times: each batch end's time.
        spans: the steps each batch stands for.
        logs: Keras's running means, one dict a batch (the dicts it passed).
        values: the recovered values, one list a key of :attr:`keys` (None where not
            recoverable), or None when no batch of the block has values.
    """

    type = "batch_block"
    __slots__ = (
        "fit", "epoch", "keys", "steps", "sizes", "times", "spans", "logs", "values", "_events",
    )  # fmt: skip

    def __init__(
        self,
        fit: int,
        epoch: int,
        keys: tuple[str, ...],
        steps: list[int],
        sizes: list[int | None],
        times: list[float],
        spans: list[int],
        logs: list[dict],
        values: dict[str, list[float | None]] | None,
    ) -> None:
        self.fit = fit
        self.epoch = epoch
        self.keys = keys
        self.steps = steps
        self.sizes = sizes
        self.times = times
        self.spans = spans
        self.logs = logs
        self.values = values
        self._events: list[Batch] | None = None

    def __len__(self) -> int:
        return len(self.steps)

    @property
    def t(self) -> float:
        """The last batch end's time (what a consumer of events reads as ``t``)."""
        return self.times[-1]

    def values_at(self, index: int) -> dict[str, float | None] | None:
        """The recovered values of the ``index``-th batch, as its event has them."""
        values = self.values
        if values is None:
            return None
        return {key: values[key][index] for key in self.keys}

    def events(self) -> list[Batch]:
        """The batch events the block stands for, made once (any thread)."""
        events = self._events
        if events is None:
            fit, epoch, values_at = self.fit, self.epoch, self.values_at
            events = self._events = [
                Batch(fit=fit, epoch=epoch, step=step, size=size, logs=logs,
                      values=values_at(index), span=span, t=t)
                for index, (step, size, logs, span, t) in enumerate(
                    zip(self.steps, self.sizes, self.logs, self.spans, self.times)
                )
            ]  # fmt: skip
        return events


class BlockBuilder:
    """Collects recovered batches into blocks, one batch at a time (the way for what
    a tape's column recovery does not take: the recovery's own dispatches).

    Args:
        fit: the fit's number.
        epoch: the epoch's.
        out: where finished blocks go, among whatever else the caller appends there.
    """

    __slots__ = ("_fit", "_epoch", "_out", "_block")

    def __init__(self, fit: int, epoch: int, out: list) -> None:
        self._fit, self._epoch, self._out = fit, epoch, out
        self._block: BatchBlock | None = None

    def add(
        self,
        step: int,
        size: int | None,
        t: float,
        span: int,
        logs: dict,
        values: dict[str, float | None] | None,
    ) -> None:
        """Append one batch: to the open block if it fits there, else to a new one."""
        block = self._block
        keys = tuple(logs)
        if (
            block is None
            or block.keys != keys
            or (block.values is None) != (values is None)
            or (values is not None and tuple(values) != keys)
        ):
            if values is not None and tuple(values) != keys:
                # Values keyed otherwise than the logs: not a column's worth.
                self.close()
                self._out.append(
                    Batch(fit=self._fit, epoch=self._epoch, step=step, size=size, logs=logs,
                          values=values, span=span, t=t)
                )  # fmt: skip
                return
            self.close()
            columns = None if values is None else {key: [] for key in keys}
            block = self._block = BatchBlock(
                self._fit, self._epoch, keys, [], [], [], [], [], columns
            )
        block.steps.append(step)
        block.sizes.append(size)
        block.times.append(t)
        block.spans.append(span)
        block.logs.append(logs)
        if values is not None:
            columns = block.values
            for key, value in values.items():
                columns[key].append(value)

    def close(self) -> None:
        """The open block is complete: hand it out."""
        if self._block is not None:
            self._out.append(self._block)
            self._block = None
