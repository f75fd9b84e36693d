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
    state.batch_loss.extend(losses)
    state.batch_values.extend(values)
    add_smoothed = state.batch_ema.add
    for value in values:
        add_smoothed(value)
    state.unrecovered_batches += unrecovered
    return end
