"""Folding a run of consecutive batch events into a :class:`RunState` at once.

A replayed log hands the state thousands of batch events per drain. Folding them
one by one through :meth:`RunState.apply` pays a dispatch, several attribute
lookups and a method call per series for each; this folds a whole run of them with
the state's fields in locals and each series extended once, to exactly the state
the one-by-one fold gives (``tests/engine/test_fast_decode.py`` compares them).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kmon.engine.events import Batch, Event
from kmon.engine.view.column_fold import count_steps, fold_column_blocks, fold_column_run


def fold_batches(state: Any, events: Sequence[Event], start: int) -> int:
    """Fold the batch events from ``events[start]`` on, up to the first event of
    another type; return that event's index (``len(events)`` at the end).

    Equivalent to ``state.apply(event)`` for each of them. ``state`` is a
    :class:`~kmon.engine.view.state.RunState` (not imported: it imports this).
    """
    count = len(events)
    end = start
    while end < count and events[end].type == "batch":
        end += 1
    if end == start:
        return end
    heads = state.heads
    pace = state._pace
    window = pace.window
    paused = pace.paused
    epoch_losses = state._epoch_losses
    add_epoch_loss = epoch_losses.add
    fold_metrics = state._fold_metrics
    losses: list[float] = []
    values: list[float] = []
    unrecovered = 0
    fit, epoch, step = state.fit, state.epoch, state.step
    total_steps = state.total_steps
    last_t = state.last_t
    batch: Batch
    for batch in events[start:end]:  # type: ignore[assignment]
        t = batch.t
        if last_t is None or t > last_t:
            last_t = t
        if heads is not None:
            heads.apply(batch)
        if batch.fit == fit and batch.epoch == epoch and step is not None:
            advanced = batch.step - step if batch.step > step else 0
        else:
            advanced = batch.step + 1
        fit, epoch = batch.fit, batch.epoch
        if step is None or advanced > 0:
            step = batch.step
        total_steps += advanced
        window.append((t - paused, total_steps))
        logs = batch.logs
        loss = logs.get("loss")
        if loss is not None:
            losses.append(float(loss))
        elif logs:
            fold_metrics(batch)  # a model without a loss: rare, the state's own way
        recovered = batch.values
        value = recovered.get("loss") if recovered else None
        add_epoch_loss(value, batch.size, batch.span)
        if value is not None:
            values.append(value)
        elif loss is not None:
            unrecovered += 1
    state.version += end - start
    state.last_t = last_t
    state.batches += end - start
    state.fit, state.epoch, state.step = fit, epoch, step
    state.total_steps = total_steps
    state.last_batch_logs = events[end - 1].logs  # type: ignore[attr-defined]
    if state.batch_series:
        state.batch_loss.extend(losses)
        state.batch_values.extend(values)
        add_smoothed = state.batch_ema.add
        for value in values:
            add_smoothed(value)
    state.unrecovered_batches += unrecovered
    return end


#: Runs shorter than this fold batch by batch (:func:`fold_batches`).
RUN_AT_ONCE = 128
#: Likewise for a run of batch events (a live monitor's drain: about 100 a tick at
#: 1,000 steps a second).
EVENTS_AT_ONCE = 32


def fold_batch_events(state: Any, events: Sequence[Event], start: int) -> int:
    """:func:`fold_batches`, column by column where the run allows it (see
    :func:`fold_batch_run`): the same state, in about half the time a batch."""
    count = len(events)
    end = start
    while end < count and events[end].type == "batch":
        end += 1
    if end - start < EVENTS_AT_ONCE or not _fold_columns(state, events[start:end]):
        fold_batches(state, events, start)
    return end


def fold_batch_run(state: Any, run: Any) -> None:
    """Fold a reader's run of batch lines (a
    :class:`~kmon.engine.log.fast_decode.BatchRun`) into ``state``: the same state
    as ``state.apply`` of each batch event, column by column.

    Only the newest few batches move the pace window, and a run in one epoch moves
    the step counters by its largest step; what else a batch changes is a sum, a
    minimum or a maximum over the run. Anything less usual (a run across epochs, a
    model without a loss) folds batch by batch.
    """
    lines = run.lines
    if len(lines) < RUN_AT_ONCE:
        fold_batches(state, lines, 0)
    elif not (
        fold_column_blocks(state, run)
        or fold_column_run(state, lines)
        or _fold_columns(state, lines)
    ):
        fold_batches(state, lines, 0)


def _fold_columns(state: Any, lines: list) -> bool:
    """The column-wise fold; False, with ``state`` untouched, where it does not
    apply."""
    count = len(lines)
    first = lines[0]
    fit, epoch = first.fit, first.epoch
    if [line.fit for line in lines].count(fit) != count:
        return False
    if [line.epoch for line in lines].count(epoch) != count:
        return False
    logs = [line.logs for line in lines]
    losses = [entry.get("loss") for entry in logs]
    if None in losses:
        return False  # a model without a loss keeps its metrics' series instead
    times = [line.t for line in lines]
    latest = max(times)
    if state.last_t is None or latest > state.last_t:
        state.last_t = latest
    sizes = [line.size for line in lines]
    if state.heads is not None:
        # The fit is checked there: batches of another fit leave a board alone.
        state.heads.apply_batches(lines, logs, sizes)
    if not _count_rising_steps(state, lines, fit, epoch):
        count_steps(state, [line.step for line in lines], times, fit, epoch)
    state.version += count
    state.batches += count
    state.last_batch_logs = logs[-1]
    recovered = [line.values for line in lines]
    values = [entry.get("loss") if entry else None for entry in recovered]
    state._epoch_losses.add_all(values, sizes, [line.span for line in lines])
    found = [value for value in values if value is not None]
    if state.batch_series:
        state.batch_loss.extend(list(map(float, losses)))
        state.batch_values.extend(found)
        state.batch_ema.add_all(found)
    state.unrecovered_batches += count - len(found)
    return True


def _count_rising_steps(state: Any, lines: list, fit: int, epoch: int) -> bool:
    """The step counters and the pace window for a run of one epoch whose steps
    rise strictly past the state's (a live fit's drain, a log's run). False, with
    ``state`` untouched, for any other run."""
    steps = [line.step for line in lines]
    before = steps_before(state, steps, fit, epoch)
    if before is None:
        return False
    advance_steps(state, steps, [line.t for line in lines], before, fit, epoch)
    return True


def steps_before(state: Any, steps: list, fit: int, epoch: int) -> int | None:
    """The step that ``steps`` (of one epoch of fit ``fit``) rise strictly past: the
    state's, or -1 in a new epoch (its first batch advances by its step + 1); None
    where they do not rise so."""
    if state.fit == fit and state.epoch == epoch and state.step is not None:
        before = state.step
    else:
        before = -1
    previous = before
    for step in steps:
        if step <= previous:
            return None
        previous = step
    return before


def advance_steps(state: Any, steps: list, times: list, before: int, fit: int, epoch: int) -> None:
    """The step counters and the pace window past ``steps`` (at ``times``), which
    rise past ``before`` (:func:`steps_before`): each batch advances the count by
    its step's difference from the one before, so the counts are a column."""
    base = state.total_steps - before
    window = state._pace.window
    shown = -window.maxlen if window.maxlen is not None else 0
    paused = state._pace.paused
    window.extend([(t - paused, base + step) for t, step in zip(times[shown:], steps[shown:])])
    state.fit, state.epoch, state.step = fit, epoch, steps[-1]
    state.total_steps = base + steps[-1]
