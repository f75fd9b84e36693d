"""Memory: the monitor's resident size after a million batch events.

A real :class:`~kmon.tui.app.MonitorApp` (headless, 120x40) reads a source that
makes batch events lazily, a chunk per tick (so the source itself holds one chunk
at most), with an epoch every ``--epoch-every`` batches. Everything the monitor
keeps (run state, bucketed series, epoch history, widgets) grows with the run;
the goal is that a million batches cost at most 50 MB more than the first chunk.

RSS is read from /proc/self/statm after a garbage collection, once the app has
drawn the first chunk (the baseline: imports and first-draw caches are paid) and
again after the last one.

    python benchmarks/memory.py             # 1,000,000 events
    python benchmarks/memory.py --quick     # 100,000
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time

from _common import header, ratio_line
from _monitor import BenchmarkMonitor

from kmon.engine.events import Batch, EpochEnd, EpochStart, FitStart, RunEnd, RunStart, ValEnd

GOAL_BYTES = 50 * 1024 * 1024
SIZE = (120, 40)


def rss_bytes() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class LazySource:
    """Makes ``total`` batch events on demand, ``chunk`` per drain."""

    live = False
    buffered = False
    dropped = 0
    running = False

    def __init__(self, total: int, chunk: int, epoch_every: int) -> None:
        self.total, self.chunk, self.epoch_every = total, chunk, epoch_every
        self.made = 0
        self.drains = 0
        self._started = False
        self._ended = False

    def drain(self):
        self.drains += 1
        events = []
        steps = self.epoch_every
        if not self._started:
            self._started = True
            events += [
                RunStart(script="/bench/memory.py", argv=["memory.py"]),
                FitStart(
                    fit=0,
                    epochs=self.total // steps + 1,
                    steps=steps,
                    outputs=["dense"],
                    model="bench",
                    batch_size=32,
                    samples=32 * steps,
                ),
                EpochStart(fit=0, epoch=0),
            ]
        end = min(self.made + self.chunk, self.total)
        for index in range(self.made, end):
            epoch, step = divmod(index, steps)
            loss = 1.0 / (1.0 + index * 1e-5) + (index % 13) * 1e-3
            events.append(
                Batch(
                    fit=0,
                    epoch=epoch,
                    step=step,
                    size=32,
                    logs={"loss": loss, "accuracy": 1 - loss / 2},
                    values={"loss": loss, "accuracy": 1 - loss / 2},
                )
            )
            if step == steps - 1:
                logs = {"loss": loss, "accuracy": 0.5}
                events += [
                    ValEnd(fit=0, epoch=epoch, logs=dict(logs)),
                    EpochEnd(fit=0, epoch=epoch, logs={**logs, "val_loss": loss}),
                    EpochStart(fit=0, epoch=epoch + 1),
                ]
        self.made = end
        if self.made >= self.total and not self._ended and events == []:
            self._ended = True
            events.append(RunEnd(status="ok", fits=1))
        return events

    def request_stop(self) -> None:
        pass


class MeasuredMonitor(BenchmarkMonitor):
    """The monitor, reading its RSS after the first chunk and after the last."""

    def __init__(self, source: LazySource) -> None:
        super().__init__(source)
        self.baseline: int | None = None
        self.final: int | None = None

    def tick(self) -> None:
        if not self.is_running:
            return
        super().tick()
        source = self.source
        if self.baseline is None and source.made >= source.chunk:
            self.call_after_refresh(self._take_baseline)
        if source._ended and self.final is None:
            self.final = -1
            self.call_after_refresh(self._finish)

    def _take_baseline(self) -> None:
        if self.baseline is None:
            gc.collect()
            self.baseline = rss_bytes()

    def _finish(self) -> None:
        gc.collect()
        self.final = rss_bytes()
        self.exit("done")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="100,000 events")
    parser.add_argument("--events", type=int, default=1_000_000, help="batch events")
    parser.add_argument("--chunk", type=int, default=10_000, help="events per tick")
    parser.add_argument("--epoch-every", type=int, default=1000, help="batches per epoch")
    args = parser.parse_args(argv)
    if args.quick:
        args.events = 100_000
    header("memory")
    source = LazySource(args.events, args.chunk, args.epoch_every)
    app = MeasuredMonitor(source)
    started = time.perf_counter()
    app.run(headless=True, size=SIZE)
    seconds = time.perf_counter() - started
    if app.return_code or app.baseline is None or not app.final or app.final < 0:
        print("the monitor failed")
        return 1
    growth = app.final - app.baseline
    state = app.state
    print(
        f"{state.batches:,} batch events and {len(state.history):,} epochs folded in "
        f"{seconds:.1f}s ({state.batches / seconds:,.0f} events/s through the app)"
    )
    print(
        f"RSS: {app.baseline / 2**20:.1f} MiB after the first {args.chunk:,} events, "
        f"{app.final / 2**20:.1f} MiB after all: growth {growth / 2**20:.1f} MiB"
    )
    print(ratio_line("rss_growth/50MB", growth / GOAL_BYTES, 1.0, "goal growth <= 50 MB"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
