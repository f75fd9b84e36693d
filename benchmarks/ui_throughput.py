"""UI throughput: can the live monitor keep up with a very fast training loop?

A producer thread plays the training thread: it puts 10,000 batch events a second
(with an epoch every ``--epoch-every`` batches: epoch_start, val_end, epoch_end)
into a :class:`~kmon.engine.run.channel.MonitorChannel`, timing every ``put()``. A real
:class:`~kmon.tui.app.MonitorApp` (headless, 120x40) reads the channel through a
live source and runs its normal 10 Hz tick: drain, fold into the run state, redraw.

Measured:

- latency from each event's ``t`` to the end of the screen refresh that followed
  the tick which drained it (p50, p95, max): goal p95 <= 200 ms;
- batch events the channel coalesced away (the UI fell behind) and the largest
  drain (the backlog a tick found);
- epoch_end events the UI received, against those produced: goal all of them;
- ``put()`` duration on the producer (p99 and max, in µs): it must never block.
  The max includes the times the interpreter handed the GIL to the UI thread
  between the two clock reads (its switch interval is 5 ms), which is not the
  channel waiting; the share of puts over 1 ms says how rare that is.

    python benchmarks/ui_throughput.py              # 30 s
    python benchmarks/ui_throughput.py --quick      # 3 s
"""

from __future__ import annotations

import argparse
import sys
import threading
import time

from _common import header, median, percentile, ratio_line
from _monitor import BenchmarkMonitor

from kmon.engine.events import (
    Batch,
    EpochEnd,
    EpochStart,
    FitEnd,
    FitStart,
    RunEnd,
    RunStart,
    ValEnd,
    ValueKinds,
)
from kmon.engine.run.channel import MonitorChannel

LATENCY_GOAL = 0.200
SIZE = (120, 40)


class Producer(threading.Thread):
    """Puts ``rate`` batch events a second for ``seconds``, like a training thread."""

    def __init__(self, channel: MonitorChannel, rate: int, seconds: float, epoch_every: int):
        super().__init__(name="producer", daemon=True)
        self.channel = channel
        self.rate, self.seconds, self.epoch_every = rate, seconds, epoch_every
        self.put_ns: list[int] = []
        self.batches = 0
        self.epochs = 0
        self.done = threading.Event()

    def put(self, event) -> None:
        clock = time.perf_counter_ns
        start = clock()
        self.channel.put(event)
        self.put_ns.append(clock() - start)

    def run(self) -> None:
        total = int(self.rate * self.seconds)
        steps = self.epoch_every
        self.put(RunStart(script="/bench/ui_throughput.py", argv=["ui_throughput.py"]))
        self.put(
            FitStart(
                fit=0,
                epochs=total // steps + 1,
                steps=steps,
                outputs=["dense"],
                model="bench",
                batch_size=32,
                samples=32 * steps,
            )
        )
        self.put(EpochStart(fit=0, epoch=0))
        self.put(ValueKinds(fit=0, kinds={"loss": "mean", "accuracy": "mean"}))
        start = time.perf_counter()
        sent = 0
        loss = 1.0
        while sent < total:
            due = min(int((time.perf_counter() - start) * self.rate), total)
            while sent < due:
                epoch, step = divmod(sent, steps)
                loss = loss * 0.99999 + 0.00001 * ((step % 7) / 7)
                event = Batch(
                    fit=0,
                    epoch=epoch,
                    step=step,
                    size=32,
                    logs={"loss": loss, "accuracy": 1 - loss / 2},
                    values={"loss": loss, "accuracy": 1 - loss / 2},
                )
                self.put(event)
                sent += 1
                if step == steps - 1:
                    self.put(ValEnd(fit=0, epoch=epoch, logs={"loss": loss, "accuracy": 0.5}))
                    self.put(
                        EpochEnd(
                            fit=0,
                            epoch=epoch,
                            logs={"loss": loss, "accuracy": 0.5, "val_loss": loss},
                        )
                    )
                    self.put(EpochStart(fit=0, epoch=epoch + 1))
                    self.epochs += 1
            time.sleep(0.0005)
        self.batches = sent
        self.put(FitEnd(fit=0))
        self.put(RunEnd(status="ok", fits=1))
        self.done.set()


class ChannelSource:
    """A live source over a bare channel (what LiveSource is over a session)."""

    live = True
    buffered = True

    def __init__(self, channel: MonitorChannel, producer: Producer) -> None:
        self.channel, self.producer = channel, producer

    def drain(self):
        return self.channel.drain()

    @property
    def dropped(self) -> int:
        return self.channel.dropped


    @property
    def running(self) -> bool:
        return not self.producer.done.is_set()

    def request_stop(self) -> None:
        pass


class MeasuredMonitor(BenchmarkMonitor):
    """The monitor, timing each tick and the refresh that puts it on screen."""

    def __init__(self, source: ChannelSource) -> None:
        super().__init__(source)
        self.drained: list[tuple[list[float], float]] = []
        """Per tick: the drained events' ``t``, and when the screen showed them."""
        self.tick_seconds: list[float] = []
        self.largest_drain = 0
        self.epoch_ends = 0
        self._pending: list[float] = []

    def on_mount(self) -> None:
        # Textual runs MonitorApp.on_mount too (handlers run along the MRO).
        self.source.producer.start()

    def tick(self) -> None:
        if not self.is_running:
            return
        started = time.perf_counter()
        source = self.source
        original = source.drain
        times: list[float] = []

        def drain():
            events = original()
            times.extend(event.t for event in events)
            self.epoch_ends += sum(1 for event in events if event.type == "epoch_end")
            return events

        source.drain = drain
        try:
            super().tick()
        finally:
            del source.drain
        self.tick_seconds.append(time.perf_counter() - started)
        self.largest_drain = max(self.largest_drain, len(times))
        if times:
            self.call_after_refresh(self._shown, times)
        if self.state.finished and not times:
            self.exit("done")

    def _shown(self, times: list[float]) -> None:
        self.drained.append((times, time.time()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a 3 s smoke run")
    parser.add_argument("--seconds", type=float, default=30.0, help="how long to produce")
    parser.add_argument("--rate", type=int, default=10_000, help="batch events per second")
    parser.add_argument("--epoch-every", type=int, default=2000, help="batches per epoch")
    args = parser.parse_args(argv)
    if args.quick:
        args.seconds = 3.0
    header("UI throughput")
    channel = MonitorChannel()
    producer = Producer(channel, args.rate, args.seconds, args.epoch_every)
    app = MeasuredMonitor(ChannelSource(channel, producer))
    wall, cpu = time.perf_counter(), time.process_time()
    app.run(headless=True, size=SIZE)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    if app.return_code:
        print("the monitor failed")
        return 1

    latencies = [shown - t for times, shown in app.drained for t in times]
    p95 = percentile(latencies, 0.95)
    puts_us = [ns / 1000 for ns in producer.put_ns]
    slow_puts = sum(1 for us in puts_us if us > 1000)
    achieved = producer.batches / args.seconds
    print(
        f"produced {producer.batches:,} batch events in {args.seconds:g}s "
        f"({achieved:,.0f}/s, goal {args.rate:,}/s) and {producer.epochs} epochs; "
        f"app ran {wall:.1f}s, {len(app.tick_seconds)} ticks, "
        f"using {cpu / wall:.0%} of a core (producer included)"
    )
    print(
        f"latency event -> screen: p50 {median(latencies) * 1000:.0f} ms · "
        f"p95 {p95 * 1000:.0f} ms · max {max(latencies) * 1000:.0f} ms "
        f"over {len(latencies):,} events"
    )
    print(
        f"tick (drain + fold + redraw): p50 {median(app.tick_seconds) * 1000:.1f} ms · "
        f"p95 {percentile(app.tick_seconds, 0.95) * 1000:.1f} ms · "
        f"max {max(app.tick_seconds) * 1000:.1f} ms"
    )
    print(
        f"kept up: coalesced {channel.dropped:,} batch events; largest drain "
        f"{app.largest_drain:,} events; epoch_end seen {app.epoch_ends}/{producer.epochs}"
    )
    print(
        f"put(): p50 {median(puts_us):.1f} µs · p99 {percentile(puts_us, 0.99):.1f} µs · "
        f"max {max(puts_us):.0f} µs · {slow_puts} of {len(puts_us):,} over 1 ms "
        f"(GIL hand-offs to the UI thread)"
    )
    print(ratio_line("p95_latency/goal", p95 / LATENCY_GOAL, 1.0, "goal p95 <= 200 ms"))
    epochs_ok = app.epoch_ends == producer.epochs
    print(
        ratio_line(
            "epoch_end_seen/produced",
            app.epoch_ends / max(producer.epochs, 1),
            None,
            "goal 1.000 (nothing epoch-level dropped): " + ("MET" if epochs_ok else "MISSED"),
        )
    )
    print(
        ratio_line("achieved_rate/asked", achieved / args.rate, None, "the producer kept its pace")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
