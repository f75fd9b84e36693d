"""Folding a live fit's block of batches (its columns) into a :class:`RunState`.

A TensorFlow fit's batch tapes reach the monitor as blocks of columns
(:class:`~kmon.engine.training.batch_block.BatchBlock`: steps, sizes, times, spans,
Keras's running means as its dicts, the recovered values a list a key), not as
batch events. This folds a block as a replay's column runs are folded
(:mod:`kmon.engine.view.batch_fold`), to exactly the state its batch events give
one by one (``tests/engine/test_batch_runs.py`` compares them); what this fold does
not take (a model without a loss, steps that do not rise) folds those events.
"""

from __future__ import annotations

from typing import Any

from kmon.engine.view.batch_fold import advance_steps, fold_batches, steps_before
from kmon.engine.view.bucket_arrays import add_smoothed_array, extend_array
from kmon.engine.view.column_fold import add_epoch_losses

#: A joined block of at least this many batches fills its loss series with numpy.
#: Below it numpy's calls (a dozen a block) cost more than they save with the caches
#: cold, as a live UI's frames leave them: 1.26 µs a batch against the lists' 0.99
#: at 500 batches, 0.59 against 0.80 at 1,000 (``benchmarks/block_fold.py --cold``).
#: So it pays for fits of more than about 800 steps a second: a live monitor drains
#: once a frame, each second while a run trains.
NUMPY_AT = 768


def fold_batch_blocks(state: Any, items: list, start: int) -> int:
    """Fold the block ``items[start]`` and the blocks right after it that continue it
    (the same fit, epoch and keys: a drain's tapes), as one, into ``state``; return
    the index of the first item not folded. A drain's ten tapes fold as one run:
    the series take it at once."""
    first = items[start]
    end, count = start + 1, len(items)
    shape = (first.fit, first.epoch, first.keys, first.values is None)
    while end < count and items[end].type == "batch_block":
        block = items[end]
        if (block.fit, block.epoch, block.keys, block.values is None) != shape:
            break
        end += 1
    fold_batch_block(state, first if end == start + 1 else _joined(items[start:end]))
    return end


def _joined(blocks: list) -> Any:
    """One block of ``blocks`` (of one fit, epoch and key set), in order."""
    first = blocks[0]

    def column(name: str) -> list:
        return [entry for block in blocks for entry in getattr(block, name)]

    values = None
    if first.values is not None:
        values = {key: [v for block in blocks for v in block.values[key]] for key in first.keys}
    return type(first)(
        first.fit, first.epoch, first.keys, column("steps"), column("sizes"),
        column("times"), column("spans"), column("logs"), values,
    )  # fmt: skip


def fold_batch_block(state: Any, block: Any) -> None:
    """Fold ``block`` into ``state`` (a :class:`~kmon.engine.view.state.RunState`,
    not imported: it imports this): the same state as ``state.apply`` of each of
    its batch events."""
    if not _fold_columns(state, block):
        fold_batches(state, block.events(), 0)


def _fold_columns(state: Any, block: Any) -> bool:
    """The column-wise fold; False, with ``state`` untouched, where it does not apply."""
    if "loss" not in block.keys:
        return False  # a model without a loss keeps its metrics' series instead
    logs = block.logs
    losses = [entry["loss"] for entry in logs]
    if None in losses:
        return False
    fit, epoch, steps = block.fit, block.epoch, block.steps
    before = steps_before(state, steps, fit, epoch)
    if before is None:
        return False
    count, times = len(steps), block.times
    latest = max(times)
    if state.last_t is None or latest > state.last_t:
        state.last_t = latest
    if state.heads is not None:
        state.heads.apply_block(block)
    advance_steps(state, steps, times, before, fit, epoch)
    state.version += count
    state.batches += count
    state.last_batch_logs = logs[-1]
    values = block.values["loss"] if block.values is not None else [None] * count
    found = values if None not in values else [value for value in values if value is not None]
    if not state.batch_series:
        state._epoch_losses.add_all(values, block.sizes, block.spans)
    elif count >= NUMPY_AT and set(map(type, found)) == {float}:
        _fold_losses_by_arrays(state, losses, values, found, block)
    else:
        state.batch_loss.extend(list(map(float, losses)))
        state._epoch_losses.add_all(values, block.sizes, block.spans)
        state.batch_values.extend(found)
        state.batch_ema.add_all(found)
    state.unrecovered_batches += count - len(found)
    return True


def _fold_losses_by_arrays(state: Any, losses: list, values: list, found: list, block: Any) -> None:
    """The loss series and the epoch's loss sums of a long block, filled with numpy
    as a replay's column runs are (:mod:`~kmon.engine.view.column_fold`): the same
    state as the lists' way, the smoothed loss to within rounding. ``found`` (the
    recovered values) are all Python floats: other numbers keep their own type in
    the lists' way."""
    import numpy  # noqa: PLC0415 - loaded already by the fit; not needed before a long drain

    extend_array(state.batch_loss, numpy.array(losses, dtype=float))
    found_array = numpy.array(found, dtype=float)
    sizes = block.sizes
    # Only Python ints: with a numpy int the lists' way sums to numpy floats.
    if found is values and block.spans.count(1) == len(sizes) and set(map(type, sizes)) == {int}:
        add_epoch_losses(state._epoch_losses, found_array, sizes, numpy)
    else:
        state._epoch_losses.add_all(values, sizes, block.spans)
    extend_array(state.batch_values, found_array)
    add_smoothed_array(state.batch_ema, found_array)
