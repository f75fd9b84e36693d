"""MonitorChannel: ordered, never blocks, drops only old batch events."""

from __future__ import annotations

import threading
import time

from kmon.engine.events import Batch, EpochEnd, EpochStart, FitEnd, FitStart, Log, RunEnd
from kmon.engine.run.channel import MonitorChannel


def _key(event):
    """A comparable identity for an event (events compare equal by value)."""
    if event.type == "batch":
        return ("batch", event.epoch, event.step)
    if event.type in ("epoch_start", "epoch_end"):
        return (event.type, event.epoch)
    if event.type == "log":
        return ("log", event.text)
    return (event.type,)


def test_drain_preserves_order_across_batch_and_control_events():
    channel = MonitorChannel()
    events = [FitStart(steps=3)]
    for epoch in range(3):
        events.append(EpochStart(epoch=epoch))
        for step in range(3):
            events.append(Batch(epoch=epoch, step=step))
            events.append(Log(text=f"e{epoch}s{step}"))
        events.append(EpochEnd(epoch=epoch))
    events += [FitEnd(), RunEnd()]
    for event in events:
        channel.put(event)
    drained = channel.drain()
    assert [_key(e) for e in drained] == [_key(e) for e in events]
    assert all(a is b for a, b in zip(drained, events, strict=True))
    assert channel.dropped == 0
    assert channel.drain() == []


def test_news_waiting_says_whether_a_drain_brings_more_than_batches():
    channel = MonitorChannel()
    assert not channel.news_waiting
    channel.put(Batch(epoch=0, step=0))
    assert not channel.news_waiting  # batches alone may wait for the monitor's frame
    channel.put(EpochEnd(epoch=0))
    assert channel.news_waiting
    assert [event.type for event in channel.drain()] == ["batch", "epoch_end"]
    assert not channel.news_waiting


def test_drain_in_pieces_keeps_order():
    channel = MonitorChannel()
    produced, delivered = [], []
    for i in range(100):
        event = Batch(step=i) if i % 3 else Log(text=str(i))
        produced.append(event)
        channel.put(event)
        if i % 7 == 0:
            delivered += channel.drain()
    delivered += channel.drain()
    assert [_key(e) for e in delivered] == [_key(e) for e in produced]
    assert channel.dropped == 0


def test_full_batch_ring_overwrites_old_batches_but_never_control_events():
    channel = MonitorChannel(batch_capacity=5)
    controls = []
    for step in range(40):
        channel.put(Batch(step=step))
        if step % 4 == 3:
            control = EpochEnd(epoch=step // 4)
            controls.append(control)
            channel.put(control)
        if step == 20:
            log = Log(text="halfway")
            controls.append(log)
            channel.put(log)
    run_end = RunEnd()
    controls.append(run_end)
    channel.put(run_end)

    drained = channel.drain()
    batches = [e for e in drained if e.type == "batch"]
    assert [e.step for e in batches] == [35, 36, 37, 38, 39]
    assert [e for e in drained if e.type != "batch"] == controls
    assert all(
        a is b for a, b in zip([e for e in drained if e.type != "batch"], controls, strict=True)
    )
    assert channel.dropped == 35
    # Still in put order: epoch_end 9 (after step 39) comes after the batches.
    assert drained[-2].type == "epoch_end" and drained[-2].epoch == 9
    assert drained[-1] is run_end
    assert drained.index(batches[0]) > drained.index(controls[7])  # epoch 7 ended at 31

    # Dropped counts accumulate over drains and count only overwritten events.
    for step in range(40, 48):
        channel.put(Batch(step=step))
    channel.put(RunEnd())
    drained = channel.drain()
    assert [e.step for e in drained if e.type == "batch"] == [43, 44, 45, 46, 47]
    assert channel.dropped == 35 + 3
    assert channel.drain() == []
    assert channel.dropped == 38


def test_exact_capacity_drops_nothing():
    channel = MonitorChannel(batch_capacity=10)
    for step in range(10):
        channel.put(Batch(step=step))
    assert [e.step for e in channel.drain()] == list(range(10))
    assert channel.dropped == 0


def test_put_never_blocks_even_when_nobody_drains():
    channel = MonitorChannel(batch_capacity=16)
    started = time.perf_counter()
    for step in range(200_000):
        channel.put(Batch(step=step))
    elapsed = time.perf_counter() - started
    # O(1) per put: 200k puts take well under a second, however full the ring is.
    assert elapsed < 2.0
    assert len(channel.drain()) == 16
    assert channel.dropped == 200_000 - 16


def test_concurrent_producer_and_draining_consumer():
    channel = MonitorChannel(batch_capacity=64)
    total = 200_000
    produced_batches = 0
    produced_controls = []
    done = threading.Event()

    def produce():
        nonlocal produced_batches
        epoch = 0
        for i in range(total):
            if i % 1000 == 999:
                event = EpochEnd(epoch=epoch)
                epoch += 1
                produced_controls.append(event)
            elif i % 777 == 0:
                event = Log(text=f"line {i}")
                produced_controls.append(event)
            else:
                event = Batch(step=i)
                produced_batches += 1
            channel.put(event)
        final = RunEnd()
        produced_controls.append(final)
        channel.put(final)
        done.set()

    delivered = []
    producer = threading.Thread(target=produce)
    producer.start()
    while not done.is_set():
        delivered += channel.drain()
        time.sleep(0.001)
    producer.join()
    delivered += channel.drain()
    delivered += channel.drain()

    controls = [e for e in delivered if e.type != "batch"]
    # Every control event exactly once, in order (identity, not just equality).
    assert len(controls) == len(produced_controls)
    assert all(a is b for a, b in zip(controls, produced_controls, strict=True))
    steps = [e.step for e in delivered if e.type == "batch"]
    assert all(a < b for a, b in zip(steps, steps[1:], strict=False))
    assert len(steps) + channel.dropped == produced_batches
    assert channel.dropped > 0  # the ring really overflowed
    # Batches never overtake the epoch_end that followed them.
    last_end = -1
    for event in delivered:
        if event.type == "epoch_end":
            last_end = event.epoch
        elif event.type == "batch":
            assert event.step // 1000 == last_end + 1


def test_two_producers_lose_no_control_event_and_account_for_every_batch():
    # The training thread and the capture threads put concurrently.
    channel = MonitorChannel(batch_capacity=32)
    batches, logs = 100_000, 20_000
    finished = threading.Barrier(3)

    def produce_batches():
        for step in range(batches):
            channel.put(Batch(step=step))
        finished.wait()

    def produce_logs():
        for i in range(logs):
            channel.put(Log(text=str(i)))
        finished.wait()

    threads = [threading.Thread(target=produce_batches), threading.Thread(target=produce_logs)]
    for thread in threads:
        thread.start()
    delivered = []
    while finished.n_waiting < 2:
        delivered += channel.drain()
        time.sleep(0.001)
    finished.wait()
    for thread in threads:
        thread.join()
    delivered += channel.drain()
    delivered += channel.drain()

    texts = [e.text for e in delivered if e.type == "log"]
    assert texts == [str(i) for i in range(logs)]
    steps = [e.step for e in delivered if e.type == "batch"]
    assert all(a < b for a, b in zip(steps, steps[1:], strict=False))
    assert len(steps) + channel.dropped == batches
