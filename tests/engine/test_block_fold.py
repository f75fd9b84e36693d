"""A live drain's long joined block is folded with numpy (engine/view/block_fold.py,
``NUMPY_AT``), to the state its batch events give one by one: exactly, but for the
smoothed loss, within rounding (as a replay's column runs, test_column_fold.py); a
real fit's drains through a real channel, and odd values."""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest
from event_stream import EventStream
from test_batch_blocks import _as_blocks, _expanded
from test_fast_decode import _fold_one_by_one, _snapshot

from kmon.engine.run.bus import EventBus
from kmon.engine.run.channel import MonitorChannel
from kmon.engine.training import callback as callback_module
from kmon.engine.training.callback import KmonCallback
from kmon.engine.view import block_fold
from kmon.engine.view.state import RunState


@pytest.fixture
def by_arrays(monkeypatch) -> list[int]:
    """The lengths of the blocks folded with numpy."""
    lengths: list[int] = []
    fold = block_fold._fold_losses_by_arrays

    def counted(state, losses, values, found, block):
        lengths.append(len(losses))
        fold(state, losses, values, found, block)

    monkeypatch.setattr(block_fold, "_fold_losses_by_arrays", counted)
    return lengths


def _drained(items: list, drain: int, capacity: int = 512) -> RunState:
    state = RunState(series_capacity=capacity)
    for start in range(0, len(items), drain):
        state.apply_all(items[start : start + drain])
    return state


@pytest.fixture(scope="module")
def real_fit_items() -> list:
    """What a monitor's channel holds after a real fit with batch tapes: 2 epochs of
    1,000 batches, as blocks (the tapes recovered by columns) among the other events.
    Tapes of at most 32 batches here, so that drains of a few items stay short."""
    channel = MonitorChannel()
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4000, 4)).astype("float32")
    y = (x @ np.arange(1, 5, dtype="float32") + rng.normal(scale=0.5, size=4000))[:, None]
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)], name="tiny")
    model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    callback = KmonCallback(EventBus(channel).emit, 0, samples=4000, batch_size=4, batch_tapes=True)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(callback_module, "TAPE_BATCHES", 32)
        model.fit(x, y.astype("float32"), batch_size=4, epochs=2, callbacks=[callback], verbose=0)
    items = channel.drain()
    assert sum(item.type == "batch_block" for item in items) > 30
    return items


def test_a_real_fits_long_drains_fold_with_numpy_to_its_events_state(real_fit_items, by_arrays):
    events = _expanded(real_fit_items)
    assert sum(event.type == "batch" for event in events) == 2 * 1000
    expected = _snapshot(_fold_one_by_one(events))
    # All at once: each epoch's blocks join (its first batch is an event).
    assert _snapshot(_drained(real_fit_items, len(real_fit_items))) == expected
    assert by_arrays == [999, 1000]
    # Drains of 30 items: tapes of up to 32 batches (fewer where one ships on time).
    by_arrays.clear()
    assert _snapshot(_drained(real_fit_items, 30)) == expected
    assert all(length >= block_fold.NUMPY_AT for length in by_arrays)


def test_short_drains_fold_the_lists_way(real_fit_items, by_arrays):
    events = _expanded(real_fit_items)
    # 20 tapes of at most 32 batches: 640, below NUMPY_AT.
    assert _snapshot(_drained(real_fit_items, 20)) == _snapshot(_fold_one_by_one(events))
    assert by_arrays == []


def _odd_long_epochs() -> list:
    """Long epochs with a NaN and unrecoverable values, an infinite loss, a smaller
    last batch; numpy ints for sizes; Python ints for losses; numpy floats for values."""
    stream = EventStream(tick=0.001).run_start("odd.py").fit_start(epochs=4, steps=800)
    for epoch in range(4):
        stream.epoch_start()
        for step in range(800):
            loss = 2.0 / (1 + epoch + step / 100) + 0.01 * (step % 7)
            logs, values = {"loss": loss, "acc": 0.5}, {"loss": loss * 0.9, "acc": 0.4}
            size = 8 if step < 799 else 5
            if epoch == 0:
                if step == 50:
                    values["loss"] = math.nan
                elif step == 60:
                    logs["loss"] = math.inf
                elif step in (70, 71):
                    values["loss"] = None  # not recoverable
            elif epoch == 1:
                size = np.int64(size)
            elif epoch == 2:
                logs["loss"] = 1 + step % 3
            else:  # (last: a bucket they share with Python floats sums to a numpy float)
                values["loss"] = np.float64(values["loss"])
            stream.batch(logs, values, size=size, epoch=epoch, step=step)
        stream.epoch_end({"loss": 1.0})
    return stream.fit_end().run_end().events


@pytest.mark.parametrize("capacity", [8, 512])
def test_odd_long_blocks_fold_to_their_events_state(capacity, by_arrays):
    events = _odd_long_epochs()
    expected = RunState(series_capacity=capacity)
    for event in events:
        expected.apply(event)
    items = _as_blocks(events)
    assert _snapshot(_drained(items, len(items), capacity)) == _snapshot(expected)
    # The last epoch's numpy floats keep their type the lists' way.
    assert sorted(by_arrays) == [800] * 3


def _series_emptied(state: RunState) -> RunState:
    """``state`` with its batch series made new: what a state without them holds."""
    state._new_batch_series()
    return state


@pytest.mark.parametrize("drain", [20, 30, 10_000])
def test_a_state_without_batch_series_folds_all_else_alike(real_fit_items, drain):
    # The headless reporter's state: its epochs, steps and batch-loss ranges are
    # the full state's, by every fold path (blocks by lists and by numpy, batch
    # events in runs and one by one); its series stay empty.
    events = _expanded(real_fit_items)
    full = _drained(real_fit_items, drain)
    bare = RunState(batch_series=False)
    for start in range(0, len(real_fit_items), drain):
        bare.apply_all(real_fit_items[start : start + drain])
    by_runs, one_by_one = RunState(batch_series=False), RunState(batch_series=False)
    by_runs.apply_all(events)
    for event in events:
        one_by_one.apply(event)
    for state in (bare, by_runs, one_by_one):
        assert (len(state.batch_loss), len(state.batch_values), len(state.batch_ema)) == (0, 0, 0)
        assert _snapshot(state) == _snapshot(_series_emptied(_drained(real_fit_items, drain)))
    assert full.history[-1].batch_losses.count > 900
    assert [r.batch_losses for r in bare.history] == [r.batch_losses for r in full.history]
    assert len(full.batch_values) == 2000 - full.unrecovered_batches
