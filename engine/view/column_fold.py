"""Folding a run of column-ready batch lines into a :class:`RunState` by columns.

A replayed log's runs of batch lines mostly come decoded for their key set
(``kmon.engine.log.column_decode``: each line's ``logs`` and ``values`` are
structs, one field per key), with the columns the reader made of each stretch
while it was in cache (``Columns``: arrays of ``t``, ``loss`` and the
recovered ``loss``). :func:`fold_column_blocks` folds those; where they do not
cover a run, :func:`fold_column_run` takes the lines apart into columns itself.
The long series are filled with numpy
(:mod:`~kmon.engine.view.bucket_arrays`: the same buckets, sums added left to
right), to the state that folding the batch events one by one gives: exactly,
but for the smoothed loss, which is within rounding (its average taken a block at
a time; ``tests/engine/test_column_fold.py`` compares them on a real fit's log).

Only a run of one fit and one epoch whose batches all log ``loss`` folds here;
anything else goes the way it went before (:mod:`kmon.engine.view.batch_fold`).
"""

from __future__ import annotations

from itertools import chain
from typing import Any

from kmon.engine.view.bucket_arrays import add_smoothed_array, extend_array, sum_in_order


def fold_column_blocks(state: Any, run: Any) -> bool:
    """Fold a reader's run (a :class:`~kmon.engine.log.fast_decode.BatchRun`) from
    the columns the reader made of its stretches, with numpy; False, with ``state``
    untouched, where they do not cover it (or are of several fits, epochs or key
    sets, or lack a recovered loss somewhere)."""
    blocks, lines = run.blocks, run.lines
    if not blocks or sum(block.count for block in blocks) != len(lines):
        return False
    first = blocks[0]
    for block in blocks:
        if (block.kind, block.fit, block.epoch) != (first.kind, first.fit, first.epoch):
            return False
        if block.values is None:
            return False
    import numpy  # noqa: PLC0415 - not needed before a long log's first run

    def joined(name: str):
        arrays = [getattr(block, name) for block in blocks]
        if len(arrays) == 1:
            return numpy.frombuffer(arrays[0])
        return numpy.concatenate([numpy.frombuffer(array) for array in arrays])

    times, losses, values = joined("t"), joined("loss"), joined("values")
    steps = first.steps if len(blocks) == 1 else list(chain.from_iterable(b.steps for b in blocks))
    sizes = first.sizes if len(blocks) == 1 else list(chain.from_iterable(b.sizes for b in blocks))
    count = len(lines)
    latest = times.max().item()
    if state.last_t is None or latest > state.last_t:
        state.last_t = latest
    last_logs = lines[-1].logs
    if state.heads is not None:
        # Every line logs the same keys: the first's and the last's stand for all.
        state.heads.apply_batches(lines, [lines[0].logs, last_logs], sizes)
    # From the columns: a worker's run decodes only the lines asked for.
    count_steps(state, steps, times, first.fit, first.epoch)
    state.version += count
    state.batches += count
    state.last_batch_logs = last_logs
    extend_array(state.batch_loss, losses)
    spans_one = all(block.spans_one for block in blocks)
    if spans_one and None not in sizes:
        add_epoch_losses(state._epoch_losses, values, sizes, numpy)
    else:
        # (Not the lines' spans where the blocks have them: a worker's run reads
        # its lines from the file only when asked, engine/log/part_read.py.)
        spans = [1] * count if spans_one else [line.span for line in lines]
        state._epoch_losses.add_all(values.tolist(), sizes, spans)
    extend_array(state.batch_values, values)
    add_smoothed_array(state.batch_ema, values)
    return True


def fold_column_run(state: Any, lines: list) -> bool:
    """Fold ``lines`` (one reader's run, of at least a few lines) into ``state``;
    False, with ``state`` untouched, where this fold does not apply (lines of
    several kinds, fits or epochs, or no ``loss`` logged)."""
    kind = type(lines[0])
    logs_keys = getattr(kind, "__kmon_logs__", None)
    if logs_keys is None or "loss" not in logs_keys:
        return False
    if len(set(map(type, lines))) != 1:
        return False  # runs joined across stretches of other key sets
    count = len(lines)
    # List comprehensions: faster than map(attrgetter) on Python 3.11.
    fits, epochs = [line.fit for line in lines], [line.epoch for line in lines]
    fit, epoch = fits[0], epochs[0]
    if fits.count(fit) != count or epochs.count(epoch) != count:
        return False
    import numpy  # noqa: PLC0415 - not needed before a long log's first run

    times = [line.t for line in lines]
    latest = max(times)
    if state.last_t is None or latest > state.last_t:
        state.last_t = latest
    sizes = [line.size for line in lines]
    last_logs = lines[-1].logs
    if state.heads is not None:
        # Every line logs the same keys: the first's and the last's stand for all.
        state.heads.apply_batches(lines, [lines[0].logs, last_logs], sizes)
    count_steps(state, [line.step for line in lines], times, fit, epoch)
    state.version += count
    state.batches += count
    state.last_batch_logs = last_logs
    losses = [line.logs_.loss for line in lines]  # (column_decode names its field so)
    extend_array(state.batch_loss, numpy.array(losses, dtype=float))
    values = _recovered_losses(kind, lines)
    found = values if None not in values else [value for value in values if value is not None]
    found_array = numpy.array(found, dtype=float)
    spans = [line.span for line in lines]
    if found is values and spans.count(1) == count and None not in sizes:
        add_epoch_losses(state._epoch_losses, found_array, sizes, numpy)
    else:
        state._epoch_losses.add_all(values, sizes, spans)
    extend_array(state.batch_values, found_array)
    add_smoothed_array(state.batch_ema, found_array)
    state.unrecovered_batches += count - len(found)
    return True


def add_epoch_losses(stats: Any, values: Any, sizes: list, numpy: Any) -> None:
    """``stats.add_all`` (a :class:`~kmon.engine.view.run_records.BatchLossStats`)
    of batches that all count (a value, a size, a span of 1), to the same sums: each
    value times its size (as Python multiplies a float by an int), added left to
    right. Non-finite values go its own way."""
    if not numpy.isfinite(values).all():
        stats.add_all(values.tolist(), sizes, [1] * len(sizes))
        return
    # One size for all (the usual run): no array of the sizes needed. (A float
    # times an int is the float times the int's float, in Python as in numpy.)
    one = sizes[0]
    weights = one if sizes.count(one) == len(sizes) else numpy.array(sizes, dtype=numpy.int64)
    stats.take_run(
        sizes,
        sum_in_order(numpy, numpy.append(stats.weighted_sum, values * weights)),
        sum_in_order(numpy, numpy.append(stats.plain_sum, values)),
        float(values.min()),
        float(values.max()),
    )


def _recovered_losses(kind: type, lines: list) -> list:
    """Each line's recovered ``loss`` (None where it has none)."""
    value_keys = kind.__kmon_values__  # type: ignore[attr-defined]
    if "loss" not in value_keys:
        return [None] * len(lines)
    recovered = [line.values_ for line in lines]
    if None not in recovered:
        return [entry.loss for entry in recovered]
    return [entry.loss if entry is not None else None for entry in recovered]


def count_steps(state: Any, steps: list, times: Any, fit: int, epoch: int) -> None:
    """The step counters and the pace window, as one-by-one folding moves them, for
    a run of one fit and one epoch given as columns (its batches' steps and times, a
    list or a numpy array): up to the window's last batches by the largest step,
    then those one by one."""
    window = state._pace.window
    tail = len(steps) - window.maxlen if window.maxlen is not None else 0
    if tail > 0:
        top = max(steps[:tail])
        if state.fit == fit and state.epoch == epoch and state.step is not None:
            if top > state.step:
                state.total_steps += top - state.step
                state.step = top
        else:
            state.total_steps += top + 1
            state.step = top
        state.fit, state.epoch = fit, epoch
    start = max(tail, 0)
    shown = times[start:]
    paused = state._pace.paused
    step, total_steps = state.step, state.total_steps
    for line_step, t in zip(steps[start:], shown if type(shown) is list else shown.tolist()):
        if state.fit == fit and state.epoch == epoch and step is not None:
            advanced = line_step - step if line_step > step else 0
        else:
            advanced = line_step + 1
        state.fit, state.epoch = fit, epoch
        if step is None or advanced > 0:
            step = line_step
        total_steps += advanced
        window.append((t - paused, total_steps))
    state.step, state.total_steps = step, total_steps
