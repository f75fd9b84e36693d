"""Batch tapes: the training thread ships raw batch ends, the sinks recover them.

The same real fit drives two callbacks side by side: one recovering on the training
thread into a list, one shipping tapes through the run's own sinks (the event-log
writer and the monitor's channel). Both sinks must read exactly the batch events of
the first, in the same places among the other events.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

from kmon.engine.events import Batch, Event
from kmon.engine.log.eventlog import EventLogWriter, read_events
from kmon.engine.run.bus import EventBus
from kmon.engine.run.channel import MonitorChannel
from kmon.engine.run.fit_hook import FitHook
from kmon.engine.stop import StopSignal
from kmon.engine.training import callback as callback_module
from kmon.engine.training.batch_tape import TAPE_BATCHES
from kmon.engine.training.callback import KmonCallback
from kmon.engine.training.recovery import BatchValueRecovery


def _fit(callbacks, *, samples=1000, batch_size=8, epochs=3, validation_split=0.0) -> None:
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(samples, 4)).astype("float32")
    y = (x @ np.arange(1, 5, dtype="float32"))[:, None]
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)], name="tiny")
    model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    model.fit(
        x,
        y,
        batch_size=batch_size,
        epochs=epochs,
        validation_split=validation_split,
        callbacks=callbacks,
        verbose=0,
    )


def _shape(events: list[Event]) -> list[tuple]:
    """What must match: each event's type and place, a batch's every field."""
    shaped = []
    for event in events:
        if isinstance(event, Batch):
            shaped.append(
                ("batch", event.fit, event.epoch, event.step, event.size, event.span,
                 event.logs, event.values)
            )
        else:
            shaped.append((event.type,))
    return shaped


def _expanded(items: list) -> list[Event]:
    """Drained items, each block as the batch events it stands for."""
    events: list[Event] = []
    for item in items:
        events += item.events() if item.type == "batch_block" else [item]
    return events


def test_tapes_read_by_the_writer_and_the_channel_match_recovery_on_the_training_thread(tmp_path):
    direct: list[Event] = []
    log = tmp_path / "run.jsonl"
    writer = EventLogWriter(log)
    channel = MonitorChannel()
    bus = EventBus(writer, channel)
    shipped: list[str] = []

    def emit(event) -> None:
        shipped.append(event.type)
        bus.emit(event)

    samples, batch_size, validation_split = 1000, 8, 0.2
    train = int(samples * (1 - validation_split))
    callbacks = [
        KmonCallback(direct.append, 0, samples=train, batch_size=batch_size),
        KmonCallback(emit, 0, samples=train, batch_size=batch_size, batch_tapes=True),
    ]
    _fit(callbacks, samples=samples, batch_size=batch_size, validation_split=validation_split)
    writer.close()

    items = channel.drain()
    # A TensorFlow fit's tapes reach the monitor as blocks of columns, not one event
    # a batch; the batch events they stand for are the ones recovered in place.
    assert not any(isinstance(item, Batch) for item in items[6:])
    assert sum(len(item) for item in items if item.type == "batch_block") == 3 * 100 - 1
    drained = _expanded(items)
    logged, report = read_events(log)
    assert report.clean, report
    batches = [e for e in direct if isinstance(e, Batch)]
    assert len(batches) == 3 * 100  # every batch of every epoch, none lost
    assert all(b.values is not None and b.values["loss"] >= 0 for b in batches)
    assert _shape(drained) == _shape(direct)
    # The log holds floats as JSON: the same numbers back.
    assert _shape(logged) == _shape(direct)
    assert channel.dropped == 0
    # Each batch keeps the time of its own batch end, not the tape's.
    taped = [e.t for e in drained if isinstance(e, Batch)]
    assert taped == [e.t for e in logged if isinstance(e, Batch)]
    assert all(0 <= t - b.t < 0.5 for t, b in zip(taped, batches, strict=True))
    assert taped == sorted(taped) and len(set(taped)) == len(taped)
    # Not one event a batch from the training thread: the fit's first dispatch (its
    # kinds are read there), then tapes of at most 32, none across an epoch's end.
    assert shipped.count("batch") == 1
    assert 3 * (99 // TAPE_BATCHES + 1) <= shipped.count("batch_tape") <= 3 * 100 // 2


class _Tape:
    """A shipped tape as the channel sees one: its size and its events."""

    type = "batch_tape"

    def __init__(self, first: int, size: int) -> None:
        self.batches = [Batch(step=first + i) for i in range(size)]

    def __len__(self) -> int:
        return len(self.batches)

    def items(self) -> list[Event]:
        return self.batches


def test_a_channel_behind_drops_whole_tapes_and_counts_their_batches():
    channel = MonitorChannel(batch_capacity=2 * TAPE_BATCHES)  # room for two tapes
    for index in range(10):
        channel.put(_Tape(index * TAPE_BATCHES, TAPE_BATCHES))
        channel.put(Batch(step=-1 - index))  # a plain batch event between them
    drained = channel.drain()
    steps = [e.step for e in drained if e.step >= 0]
    assert steps == list(range(8 * TAPE_BATCHES, 10 * TAPE_BATCHES))
    # 8 whole tapes overwritten, and none of the 10 plain batch events (a ring of
    # twice a tape's batches).
    assert channel.dropped == 8 * TAPE_BATCHES
    channel.put(_Tape(10 * TAPE_BATCHES, 5))
    first = 10 * TAPE_BATCHES
    assert [e.step for e in channel.drain()] == list(range(first, first + 5))
    assert channel.dropped == 8 * TAPE_BATCHES


def test_a_recovery_that_fails_in_a_sink_sends_keras_logs_without_values_and_says_so(
    monkeypatch,
):
    events: list[Event] = []
    callback = KmonCallback(events.append, 0, samples=800, batch_size=8, batch_tapes=True)

    def emit(event) -> None:
        if event.type == "batch_tape":
            events.extend(event.events())
        else:
            events.append(event)

    callback._emit = emit
    _fit([callback], samples=800, batch_size=8, epochs=2)
    assert len([e for e in events if isinstance(e, Batch)]) == 200
    assert all(e.values is not None for e in events if isinstance(e, Batch))

    events.clear()
    broken = KmonCallback(emit, 0, samples=800, batch_size=8, batch_tapes=True)
    original = BatchValueRecovery.add_tape
    epoch_one_done = []

    def fails_in_epoch_two(recovery, entries, keys):
        steps = [entry[0] for entry in entries]
        if epoch_one_done and steps[0] <= 40 <= steps[-1]:
            raise ZeroDivisionError("a bug")
        if 99 in steps:
            epoch_one_done.append(True)
        return original(recovery, entries, keys)

    # Where a TensorFlow tape is recovered, by columns: a bug there.
    monkeypatch.setattr(BatchValueRecovery, "add_tape", fails_in_epoch_two)
    _fit([broken], samples=800, batch_size=8, epochs=2)
    assert epoch_one_done
    batches = [e for e in events if isinstance(e, Batch)]
    # Every batch still reaches the sinks, with Keras's logs; values stop at the
    # tape that failed, and one notice says why.
    assert [(b.epoch, b.step) for b in batches] == [(e, s) for e in range(2) for s in range(100)]
    assert all(b.logs for b in batches)
    recovered = [b for b in batches if b.values is not None]
    assert recovered == batches[: len(recovered)] and 100 <= len(recovered) < 140
    notices = [e.text for e in events if e.type == "notice"]
    assert notices == ["batch values not recovered from epoch 2 on (ZeroDivisionError: a bug)"]


def test_a_fit_that_raises_mid_epoch_still_logs_every_batch_it_finished(tmp_path):
    # The tape holds up to 32 batch ends (0.1 s): a fit that ends in an exception
    # must still send them, or the log would lose the batches before a crash.
    log = tmp_path / "run.jsonl"
    writer = EventLogWriter(log)
    bus = EventBus(writer)
    hook = FitHook(bus.emit, StopSignal(), batch_tapes=True)

    class Crash(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if self.model.optimizer.iterations.numpy() == 145:
                raise RuntimeError("the script's own bug at step 145")

    hook.install()
    try:
        with pytest.raises(RuntimeError, match="own bug"):
            _fit([Crash()], samples=800, batch_size=8, epochs=3)
    finally:
        hook.uninstall()
        writer.close()
    events, report = read_events(log)
    assert report.clean, report
    batches = [(e.epoch, e.step) for e in events if isinstance(e, Batch)]
    # Keras calls the script's callbacks first: global step 144 (epoch 1, step 44)
    # raised before kmon saw it end; every batch before it is in the log.
    assert batches == [(e, s) for e in range(2) for s in range(100)][:144]
    assert all(e.values is not None for e in events if isinstance(e, Batch))


def test_a_tape_ships_once_its_oldest_batch_end_waited_tape_seconds(monkeypatch):
    # Each batch end 0.03 s after the last: the tenth is the first whose oldest
    # waited 0.25 s (TAPE_SECONDS), so the tapes hold 10 batch ends, not 32.
    ticks = iter(range(10**6))
    monkeypatch.setattr(callback_module, "_batch_clock", lambda: 1000.0 + 0.03 * next(ticks))
    events: list = []
    _fit([KmonCallback(events.append, 0, batch_tapes=True)], samples=160, epochs=2)
    tapes = [len(event) for event in events if event.type == "batch_tape"]
    # The first dispatch goes out recovered on its own; an epoch's end ships the rest.
    assert callback_module.TAPE_SECONDS == 0.25
    assert tapes == [10, 9, 10, 10]
    batches = [e for t in events if t.type == "batch_tape" for e in t.events()]
    assert len([e for e in batches if e.type == "batch"]) == 2 * 20 - 1
