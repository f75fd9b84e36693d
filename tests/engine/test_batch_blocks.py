"""Batch blocks: a TensorFlow tape recovered into columns, and what its sinks make of
them. A tape's recovery by columns gives the values, breaks and notices the
recovery one dispatch at a time gives; a block folds to exactly the state its
batch events fold to; its log lines are byte for byte its batch events' ``to_json``;
a channel behind still counts every batch it drops."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
from event_stream import EventStream, load_events
from locations import DATA
from test_fast_decode import _snapshot

from kmon.engine.events import MEAN, ROOT_MEAN_SQUARE, SCHEMA_VERSION, STEP_MEAN, Batch, Event
from kmon.engine.log.block_lines import block_lines
from kmon.engine.log.eventlog import read_events
from kmon.engine.log.writer import EventLogWriter
from kmon.engine.run.channel import MonitorChannel
from kmon.engine.training.batch_block import BatchBlock, BlockBuilder
from kmon.engine.training.batch_tape import TAPE_BATCHES, BatchTapeDecoder
from kmon.engine.training.callback_text import dispatch_events
from kmon.engine.training.metric_kinds import KeyKind
from kmon.engine.training.recovery import BatchValueRecovery
from kmon.engine.view.state import RunState

RECORDED = sorted(DATA.glob("*.jsonl"))


def _as_blocks(events: list[Event], size: int = TAPE_BATCHES) -> list:
    """``events`` with each stretch of batch events of one fit and epoch made into
    blocks of at most ``size`` (a batch whose values are keyed otherwise than its
    logs stays an event), as a live fit's drains bring them."""
    items: list = []
    builder, place, count = None, None, 0
    for event in events:
        if event.type != "batch":
            if builder is not None:
                builder.close()
                builder = None
            items.append(event)
            continue
        if builder is None or place != (event.fit, event.epoch) or count == size:
            if builder is not None:
                builder.close()
            builder, place, count = BlockBuilder(event.fit, event.epoch, items), None, 0
            place = (event.fit, event.epoch)
        builder.add(event.step, event.size, event.t, event.span, event.logs, event.values)
        count += 1
    if builder is not None:
        builder.close()
    return items


def _expanded(items: list) -> list[Event]:
    events: list[Event] = []
    for item in items:
        events += item.events() if item.type == "batch_block" else [item]
    return events


def _odd_stream() -> list[Event]:
    """Non-finite and missing values, a key that shows up late, unknown sizes,
    steps that repeat and go back, an int loss."""
    stream = EventStream(tick=0.001).run_start("odd.py").fit_start(epochs=2, steps=400)
    stream.epoch_start()
    for step in range(400):
        logs = {"loss": 1.0 + step % 7, "acc": 0.25 + 1e-5 * step}
        values = {"loss": 0.5 + step % 5, "acc": -0.0 if step % 3 else 1e-7}
        if step == 50:
            values = {"loss": math.nan, "acc": 0.5}
        elif step == 60:
            logs = {"loss": math.inf, "acc": 0.5}
        elif step in (70, 71):
            values = {"loss": None, "acc": None}  # not recoverable
        elif 80 <= step < 120:
            values = None
        if step >= 300:
            logs["new_metric"] = 0.25  # a key that shows up late
            values = {**values, "new_metric": None} if values else None
        stream.batch(logs, values, size=None if step in (90, 200) else 16)
    for step in (0, 1, 1, 0, *range(2, 300)):
        stream.batch({"loss": 3}, {"loss": 2}, epoch=1, step=step, size=16)
    return stream.epoch_end().run_end().events


def _heads_and_gan() -> list[Event]:
    """A multi-head model's long epoch, then a GAN's fit (no loss)."""
    heads = load_events("three_heads")
    start = next(index for index, event in enumerate(heads) if event.type == "batch")
    first = heads[start]
    stream = EventStream(tick=0.001).extend(heads[:start])
    for step in range(300):
        logs = {key: value * (1 + step * 1e-3) for key, value in first.logs.items()}
        stream.batch(logs, dict(logs), size=16, fit=first.fit, epoch=first.epoch, step=step)
    stream.epoch_end().fit_end()
    stream.fit_start(epochs=1, steps=200).epoch_start()
    for step in range(200):
        stream.batch({"d_loss": 0.5 + step, "g_loss": 1.5}, {"d_loss": 0.1 * step})
    return stream.epoch_end().fit_end().run_end().events


STREAMS = {path.name: lambda path=path: read_events(path)[0] for path in RECORDED}
STREAMS["odd"] = _odd_stream
STREAMS["heads_and_gan"] = _heads_and_gan


@pytest.mark.parametrize("name", sorted(STREAMS))
def test_blocks_fold_to_the_state_their_batch_events_fold_to(name):
    events = STREAMS[name]()
    assert any(event.type == "batch" for event in events)
    for capacity in (8, 512):
        expected = RunState(series_capacity=capacity)
        for event in events:
            expected.apply(event)
        for size, drain in ((TAPE_BATCHES, 5), (7, 3), (100, 1)):
            items = _as_blocks(events, size)
            assert any(item.type == "batch_block" for item in items)
            assert _expanded(items) == events or repr(_expanded(items)) == repr(events)
            state = RunState(series_capacity=capacity)
            for start in range(0, len(items), drain):
                state.apply_all(items[start : start + drain])
            assert _snapshot(state) == _snapshot(expected), (capacity, size)


def _synthetic_blocks() -> list[BatchBlock]:
    """Blocks whose lines test every spelling: non-finite and missing values, heads,
    sample weights (steps means), numbers that are no Python floats, odd keys."""
    blocks = []
    keys = ("loss", "out_a_loss", "out_b_mae", 'q"uo\\te', "ünï")
    rows = [{key: 1.0 / (index + 1) + position for position, key in enumerate(keys)}
            for index in range(12)]  # fmt: skip
    values = {key: [row[key] * 0.5 for row in rows] for key in keys}
    values["loss"][3] = None  # not recoverable
    values["out_b_mae"][4] = 1e-5
    values["ünï"][5] = -0.0
    base = dict(fit=2, epoch=1, keys=keys, steps=list(range(5, 17)),
                sizes=[16] * 11 + [None], times=[1.7e9 + 0.001 * i for i in range(12)],
                spans=[1] * 12, logs=rows, values=values)  # fmt: skip
    blocks.append(BatchBlock(**base))
    blocks.append(BatchBlock(**{**base, "values": None, "spans": [2] * 12}))
    for spoil in (math.nan, math.inf, -math.inf, np.float32(0.5), 3, None):
        spoiled = [dict(row) for row in rows]
        spoiled[6]["out_a_loss"] = spoil
        blocks.append(BatchBlock(**{**base, "logs": spoiled}))
        column = {key: list(found) for key, found in values.items()}
        column["loss"][7] = spoil
        blocks.append(BatchBlock(**{**base, "values": column}))
    blocks.append(BatchBlock(**{**base, "times": [*base["times"][:-1], math.nan]}))
    blocks.append(BatchBlock(**{**base, "sizes": [np.int64(3)] * 12}))
    empty = BatchBlock(**{**base, "keys": (), "logs": [{}] * 12, "values": {}})
    blocks.append(empty)
    return blocks


def test_block_lines_are_byte_for_byte_what_each_batch_event_writes():
    blocks = _synthetic_blocks()
    for name in sorted(STREAMS):
        blocks += [item for item in _as_blocks(STREAMS[name]()) if item.type == "batch_block"]
    for block in blocks:
        assert block_lines(block, SCHEMA_VERSION) == [e.to_json() for e in block.events()]


def test_the_writer_writes_a_blocks_lines_in_its_place(tmp_path):
    events = _odd_stream()
    items = _as_blocks(events)
    log = tmp_path / "run.jsonl"
    writer = EventLogWriter(log)
    for item in items:
        writer.put(item)
    writer.close()
    assert log.read_text().splitlines() == [event.to_json() for event in events]
    assert writer.written == len(events)


def _kinds() -> dict[str, KeyKind]:
    return {
        "loss": KeyKind(MEAN, low=0.0),
        "acc": KeyKind(MEAN, low=0.0, high=1.0),
        "rmse": KeyKind(ROOT_MEAN_SQUARE, low=0.0),
        "d_loss": KeyKind(STEP_MEAN),
        "weird": KeyKind(MEAN, low=0.0, high=1.0),  # its means leave the range
        "custom": KeyKind(None, "no tracker"),
    }


def _dispatches(seed: int, epochs: int = 3, steps: int = 300, spe: int = 1) -> list:
    """An epoch's running means after each dispatch, of values that stay in their
    ranges, one that leaves it (a break), a loss that dwarfs the later ones, NaNs."""
    rng = random.Random(seed)
    out = []
    for epoch in range(epochs):
        totals: dict[str, float] = {}
        samples = 0
        for index, step in enumerate(range(spe - 1, steps, spe)):
            size = rng.choice([8, 16, 32])
            own = {
                "loss": 1e6 if index == 40 else rng.random() * 2,
                "acc": rng.random(),
                "rmse": rng.random(),
                "d_loss": rng.random() - 0.5,
                "weird": 1.5 if epoch == 1 and index > 50 else rng.random(),
                "custom": rng.random(),
            }
            if epoch == 2 and index == 60:
                own["acc"] = math.nan
            samples += size
            logs = {}
            for key, value in own.items():
                weight = 1 if key == "d_loss" else size
                totals[key] = totals.get(key, 0.0) + weight * (value * value if key == "rmse" else value)
                count = (index + 1) if key == "d_loss" else samples
                mean = totals[key] / count
                logs[key] = float(np.float32(math.sqrt(mean) if key == "rmse" else mean))
            out.append((epoch, step, size, logs, 1000.0 + len(out) * 0.001))
    return out


def _recovered_both_ways(dispatches: list, spe: int, tape: int):
    """The events of a decoder that recovers by columns, and of one that recovers
    one dispatch at a time, over the same tapes."""
    results = []
    for columns in (True, False):
        recovery = BatchValueRecovery(_kinds, spe)

        def to_events(ready, now, epoch):
            return dispatch_events(ready, now, epoch, 3, None, None)

        decoder = BatchTapeDecoder(recovery, to_events)
        events, first = [], dispatches[0]
        for ready in recovery.add(first[1], first[2], first[3]):  # the first, in place
            events += to_events(ready, first[4], first[0])
        tapes, current, epoch = [], [], 0
        for epoch_of, step, size, logs, now in dispatches[1:]:
            if epoch_of != epoch or len(current) == tape:
                if current:
                    tapes.append(decoder.ship(current, epoch, columns))
                current = []
                if epoch_of != epoch:
                    decoder.epoch_begins()
                    epoch = epoch_of
            current.append((step, size, logs, now))
        tapes.append(decoder.ship(current, epoch, columns))
        items = [item for shipped in tapes for item in shipped.items()]
        assert columns == any(item.type == "batch_block" for item in items)
        results.append((events + _expanded(items), recovery))
    return results


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("spe", [1, 3])
def test_a_tape_recovered_by_columns_gives_the_one_by_one_events(seed, spe):
    dispatches = _dispatches(seed, spe=spe)
    if seed == 3:
        for index in range(10, 20):  # sizes the callback could not count
            epoch, step, _, logs, now = dispatches[index]
            dispatches[index] = (epoch, step, None, logs, now)
    (by_columns, recovery), (one_by_one, expected) = _recovered_both_ways(dispatches, spe, 32)
    for event in by_columns + one_by_one:
        if event.type == "notice":
            event.t = 0.0  # made when recovered: the clock's
    assert repr(by_columns) == repr(one_by_one)
    assert recovery.kinds == expected.kinds
    batches = [event for event in by_columns if isinstance(event, Batch)]
    assert len(batches) == len(dispatches)
    notices = [event.text for event in by_columns if event.type == "notice"]
    assert len(notices) == 1 and "weird" in notices[0]  # the break, in its place
    assert any(b.values and b.values["loss"] is None for b in batches)  # dwarfed
    assert any(b.values and b.values["d_loss"] is not None and b.values["d_loss"] < 0
               for b in batches)  # fmt: skip


def test_a_channel_behind_drops_whole_real_tapes_and_counts_their_batches():
    recovery = BatchValueRecovery(lambda: {"loss": KeyKind(MEAN)})
    recovery.add(0, 8, {"loss": 1.0})
    decoder = BatchTapeDecoder(recovery, lambda ready, now, epoch: [Batch(fit=0)])
    channel = MonitorChannel(batch_capacity=2 * TAPE_BATCHES)  # room for two tapes
    step = 1
    for _ in range(10):
        entries = [(step + i, 8, {"loss": 1.0 / (step + i)}, 1.0 + step + i)
                   for i in range(TAPE_BATCHES)]  # fmt: skip
        channel.put(decoder.ship(entries, 0))
        step += TAPE_BATCHES
    drained = channel.drain()
    assert [item.type for item in drained] == ["batch_block", "batch_block"]
    assert [s for block in drained for s in block.steps] == list(range(8 * TAPE_BATCHES + 1, 10 * TAPE_BATCHES + 1))
    assert channel.dropped == 8 * TAPE_BATCHES
    channel.put(decoder.ship([(step, 8, {"loss": 0.5}, 400.0)], 0))
    assert [block.steps for block in channel.drain()] == [[step]]
    assert channel.dropped == 8 * TAPE_BATCHES


def test_a_decoder_that_cannot_tell_the_fit_ships_batch_events():
    recovery = BatchValueRecovery(lambda: {"loss": KeyKind(MEAN)})
    recovery.add(0, 8, {"loss": 1.0})
    decoder = BatchTapeDecoder(recovery, lambda ready, now, epoch: [ready])  # no .fit
    tape = decoder.ship([(1, 8, {"loss": 0.75}, 2.0), (2, 8, {"loss": 0.625}, 3.0)], 0)
    recovered = tape.events()
    assert [(ready.step, ready.values) for ready in recovered] == [(1, {"loss": 0.5}), (2, {"loss": 0.375})]


def _wild_dispatches(rng: random.Random) -> list:
    """Running means (as float32) of values that leave their keys' ranges, NaN,
    inf and dwarfing ones among them: every path of a tape's recovery."""
    keys = ("unit", "steps", "rmse", "other")
    totals, samples, out = dict.fromkeys(keys, 0.0), 0, []
    for step in range(200):
        size = rng.choice([32, 32, 7])
        samples += size
        logs = {}
        for key in keys:
            value = rng.random() * rng.choice([1, 1, 1e-6, 3, -1])
            if rng.random() < 0.01:
                value = rng.choice([math.nan, math.inf, 1e7])
            totals[key] += (1 if key == "steps" else size) * (value * value if key == "rmse" else value)
            mean = totals[key] / (step + 1 if key == "steps" else samples)
            logs[key] = float(np.float32(math.sqrt(abs(mean)) if key == "rmse" else mean))
        out.append((step, size, logs))
    return out


@pytest.mark.parametrize("seed", range(40))
def test_tapes_recover_wild_values_as_one_by_one(seed):
    # Out of range (a break, or the key found unguarded), NaN, inf, dwarfed values:
    # a tape's columns hold each value recovering one dispatch at a time gives.
    rng = random.Random(seed)
    kinds = {
        "unit": KeyKind(MEAN, low=0.0, high=1.0),
        "steps": KeyKind(STEP_MEAN, low=0.0),
        "rmse": KeyKind(ROOT_MEAN_SQUARE, low=0.0),
        "other": KeyKind(rng.choice([MEAN, None]), low=rng.choice([-math.inf, 0.0]),
                         high=rng.choice([1.0, math.inf])),
    }  # fmt: skip
    dispatches = _wild_dispatches(rng)
    keys = tuple(dispatches[0][2])
    by_columns, one_by_one = (BatchValueRecovery(lambda: dict(kinds)) for _ in range(2))
    columns: dict[str, list] = {key: [] for key in keys}
    for recovery in (by_columns, one_by_one):
        recovery.add(*dispatches[0])
    for start in range(1, len(dispatches), 17):
        tape = [(step, size, logs, 0.0) for step, size, logs in dispatches[start : start + 17]]
        values = by_columns.add_tape(tape, keys)
        for key in keys:
            columns[key] += values.columns[key]
    expected = {key: [] for key in keys}
    for dispatch in dispatches[1:]:
        (recovered,) = one_by_one.add(*dispatch)
        for key in keys:
            expected[key].append(recovered.values[key] if recovered.values else None)
    assert repr(columns) == repr(expected)
    assert by_columns.kinds == one_by_one.kinds
