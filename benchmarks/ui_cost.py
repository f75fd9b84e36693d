"""What the live monitor's UI thread costs a fast run: CPU time per second of
training, measured inside the process, where the VM's slow spells move it far less
than they move wall time.

The monitor runs in the training process, and on a small model Keras spends most
of a step in Python, holding the GIL: every millisecond the UI thread computes is,
to a first approximation, a millisecond the training thread waits. Wall-time ratios
(``training_overhead.py``) move by several percent from run to run on a shared
machine, more than the UI's share; this figure moves by about 10% of itself. A producer thread plays a 1 ms/step training loop
(1,000 batch events a second, an epoch every 1,000 steps) into a real
:class:`~kmon.tui.app.MonitorApp` (headless, 120x40, the Loss tab shown). After a
few seconds of start-up the UI thread's own CPU time (``time.thread_time``) is
taken over the rest of the run, with the time each widget spends rendering.
Headless Textual writes nothing to a terminal: on a real pty the UI thread also
encodes and writes the frames (``terminal_bandwidth.py`` counts those bytes).

    python benchmarks/ui_cost.py            # 20 s
    python benchmarks/ui_cost.py --quick    # 4 s
    python benchmarks/ui_cost.py --fit-steps 1000 --epoch-steps 500   # short fits

``--fit-steps`` plays what ``training_overhead.py`` times instead: a script that calls
``fit()`` again and again (2 epochs of 500 steps each, by default there), so what
the monitor does once a fit (a new fit's header, its alarms' note, its chart) counts
at that rate.

Beside it, the same measure of a bare Textual app that repaints one line as often
as the monitor redraws (a static body and a footer besides): Textual's own floor at
that frame rate, to read the monitor's figure against.

Goal: at most 3% of a core (30 ms a second), the budget a 1.03 training-overhead
ratio leaves the UI.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import time
from collections import Counter

from _common import header, ratio_line
from rich.segment import Segment
from textual.app import App, ComposeResult
from textual.screen import Screen
from textual.strip import Strip
from textual.widget import Widget
from textual.widgets import Footer, Static
from ui_throughput import SIZE, ChannelSource, MeasuredMonitor, Producer

from kmon.engine.events import (
    Batch,
    EpochEnd,
    EpochStart,
    FitEnd,
    FitStart,
    Probes,
    RunEnd,
    RunStart,
    ValEnd,
    ValueKinds,
)
from kmon.engine.run.channel import MonitorChannel
from kmon.tui.app import REFRESH_HZ, MonitorApp

GOAL_SHARE = 0.03
STEPS_PER_SECOND = 1000
#: Ticks before the measured window: mounting, the first layouts, the first epoch.
WARM_TICKS = 30


class _PatchClock:
    """CPU time of one Textual method, by a key each call names, while :attr:`active`:
    the method is patched on its class inside ``with`` and given back after."""

    owner: type
    name: str

    def __init__(self) -> None:
        self.seconds: Counter[str] = Counter()
        self.calls: Counter[str] = Counter()
        self.active = False
        self._original = getattr(self.owner, self.name)

    def __enter__(self):
        setattr(self.owner, self.name, self._timed(self._original))
        return self

    def __exit__(self, *exc) -> None:
        setattr(self.owner, self.name, self._original)

    def reset(self) -> None:
        self.seconds.clear()
        self.calls.clear()

    def _timed(self, original):
        raise NotImplementedError

    def _run(self, key: str, original, *args):
        # CPU time: the producer thread takes the GIL in between, and wall time
        # would charge that to the call being timed.
        start = time.thread_time()
        try:
            return original(*args)
        finally:
            self.seconds[key] += time.thread_time() - start
            self.calls[key] += 1


class RenderClock(_PatchClock):
    """CPU time spent in ``Widget.render_lines``, by widget class (Textual's compositor
    calls it for every widget whose region it repaints)."""

    owner, name = Widget, "render_lines"

    def _timed(self, original):
        clock = self

        def render_lines(widget, crop):
            if not clock.active:
                return original(widget, crop)
            return clock._run(type(widget).__name__, original, widget, crop)

        return render_lines


class FrameClock(_PatchClock):
    """CPU time of Textual's frames (``Screen._on_timer_update``: a layout pass if
    one is due, then the compositor's update), grouped by what was marked changed:
    the classes of the widgets refreshed, or "layout"."""

    owner, name = Screen, "_on_timer_update"

    def _timed(self, original):
        clock = self

        def on_timer_update(screen):
            if not clock.active:
                return original(screen)
            if screen._layout_required:
                kind = "layout"
            else:
                kind = " + ".join(sorted({type(w).__name__ for w in screen._dirty_widgets}))
            return clock._run(kind or "nothing", original, screen)

        return on_timer_update


class CostedMonitor(MeasuredMonitor):
    """The monitor, with the UI thread's CPU time taken after ``WARM_TICKS``."""

    def __init__(
        self,
        source: ChannelSource,
        clock: RenderClock,
        frames: FrameClock,
        profile: cProfile.Profile | None = None,
    ) -> None:
        super().__init__(source)
        self.render_clock, self.frame_clock = clock, frames
        self.profile = profile
        self.window: tuple[float, float] | None = None
        self.cpu: float | None = None
        self.ticks = 0
        self.tick_cpu = 0.0
        """CPU time of the monitor's ticks in the window (drain, fold, redraw)."""

    def tick(self) -> None:
        # The monitor's own tick, without MeasuredMonitor's latency records (a
        # callback after each refresh, a pass over every event): what is timed is
        # what the monitor does in a real run.
        if not self.is_running:
            return
        self.ticks += 1
        if self.ticks == WARM_TICKS:
            self.window = (time.perf_counter(), time.thread_time())
            self.render_clock.reset()
            self.render_clock.active = self.frame_clock.active = True
            if self.profile is not None:
                self.profile.enable()  # this thread only: the UI thread
        started = time.thread_time()
        MonitorApp.tick(self)
        if self.window is not None and self.cpu is None:
            self.tick_cpu += time.thread_time() - started
        if self.state.finished and self.cpu is None and self.window is not None:
            started, cpu = self.window
            self.window = (started, time.perf_counter())
            self.cpu = time.thread_time() - cpu
            self.render_clock.active = self.frame_clock.active = False
            if self.profile is not None:
                self.profile.disable()
            self.exit("done")


class FitsProducer(Producer):
    """Like :class:`Producer`, but a new ``fit()`` every ``fit_steps`` batches, each
    with the events a real fit sends before its first batch."""

    def __init__(self, channel: MonitorChannel, rate: int, seconds: float, epoch_every: int,
                 fit_steps: int) -> None:
        super().__init__(channel, rate, seconds, epoch_every)
        self.fit_steps = fit_steps

    def _fit_start(self, fit: int) -> None:
        epochs = max(1, self.fit_steps // self.epoch_every)
        self.put(FitStart(fit=fit, epochs=epochs, steps=self.epoch_every, outputs=["dense"],
                          model="bench", batch_size=32, samples=32 * self.epoch_every))
        self.put(Probes(fit=fit, data=True, loss=True, predictions=True, gradients=True,
                        probe_samples=256, budget=0.008, gradient_budget=0.003))
        self.put(EpochStart(fit=fit, epoch=0))
        self.put(ValueKinds(fit=fit, kinds={"loss": "mean", "accuracy": "mean"}))

    def run(self) -> None:
        total = int(self.rate * self.seconds)
        steps = self.epoch_every
        self.put(RunStart(script="/bench/ui_cost.py", argv=["ui_cost.py"]))
        start = time.perf_counter()
        sent = fit = 0
        loss = 1.0
        self._fit_start(fit)
        while sent < total:
            due = min(int((time.perf_counter() - start) * self.rate), total)
            while sent < due:
                done_in_fit = sent - fit * self.fit_steps
                epoch, step = divmod(done_in_fit, steps)
                loss = loss * 0.99999 + 0.00001 * ((step % 7) / 7)
                logs = {"loss": loss, "accuracy": 1 - loss / 2}
                self.put(Batch(fit=fit, epoch=epoch, step=step, size=32, logs=logs,
                               values=dict(logs)))
                sent += 1
                if step == steps - 1:
                    self.put(ValEnd(fit=fit, epoch=epoch, logs={"loss": loss, "accuracy": 0.5}))
                    self.put(EpochEnd(fit=fit, epoch=epoch,
                                      logs={"loss": loss, "accuracy": 0.5, "val_loss": loss}))
                    self.epochs += 1
                    if done_in_fit + 1 >= self.fit_steps:
                        self.put(FitEnd(fit=fit))
                        fit += 1
                        if sent < total:
                            self._fit_start(fit)
                    else:
                        self.put(EpochStart(fit=fit, epoch=epoch + 1))
            time.sleep(0.0005)
        self.batches = sent
        self.put(FitEnd(fit=fit))
        self.put(RunEnd(status="ok", fits=fit + 1))
        self.done.set()


class OneLine(Widget):
    """A line of text painted from ``render_line``, as the monitor's header is."""

    DEFAULT_CSS = "OneLine { height: 2; }"

    text = ""

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        return Strip([Segment(self.text.ljust(width))]) if y == 0 else Strip.blank(width)


class BareApp(App):
    """Textual's own floor: one line changed and repainted at the monitor's rate, a
    static body and a footer, nothing else."""

    def __init__(self, ticks: int) -> None:
        super().__init__()
        self.ticks = ticks
        self.count = 0
        self.window: tuple[float, float] | None = None
        self.share: float | None = None

    def compose(self) -> ComposeResult:
        yield OneLine()
        yield Static("body\n" * 30)
        yield Footer()

    def on_mount(self) -> None:
        self.set_interval(1 / REFRESH_HZ, self.tick)

    def tick(self) -> None:
        self.count += 1
        if self.count == WARM_TICKS:
            self.window = (time.perf_counter(), time.thread_time())
        line = self.query_one(OneLine)
        line.text = f"step {self.count * 100:,} · loss {1 / self.count:.4f}"
        line.refresh()
        if self.count == self.ticks and self.window is not None:
            started, cpu = self.window
            self.share = (time.thread_time() - cpu) / (time.perf_counter() - started)
            self.exit()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a 4 s smoke run")
    parser.add_argument("--seconds", type=float, default=20.0, help="how long to produce")
    parser.add_argument("--epoch-steps", type=int, default=STEPS_PER_SECOND,
                        help="steps an epoch (default 1,000: an epoch a second)")
    parser.add_argument("--fit-steps", type=int, default=0,
                        help="a new fit() every this many steps (default: one fit)")
    parser.add_argument("--no-bare", action="store_true", help="skip the bare-Textual floor")
    parser.add_argument("--profile", metavar="FILE",
                        help="cProfile the UI thread over the measured window into FILE "
                             "(its CPU figure then includes the profiler's cost)")
    args = parser.parse_args(argv)
    if args.quick:
        args.seconds = 4.0
    header("UI cost")
    channel = MonitorChannel()
    if args.fit_steps:
        producer = FitsProducer(
            channel, STEPS_PER_SECOND, args.seconds, args.epoch_steps, args.fit_steps
        )
    else:
        producer = Producer(channel, STEPS_PER_SECOND, args.seconds, args.epoch_steps)
    with RenderClock() as clock, FrameClock() as frames:
        profile = cProfile.Profile(time.thread_time) if args.profile else None
        app = CostedMonitor(ChannelSource(channel, producer), clock, frames, profile)
        app.run(headless=True, size=SIZE)
    if profile is not None:
        profile.dump_stats(args.profile)
        pstats.Stats(args.profile).sort_stats("tottime").print_stats(25)
    if app.return_code or app.cpu is None or app.window is None:
        print("the monitor failed or ended before the measured window")
        return 1
    started, ended = app.window
    wall = ended - started
    share = app.cpu / wall
    print(
        f"{STEPS_PER_SECOND:,} batch events/s for {args.seconds:g}s, epochs of "
        f"{args.epoch_steps:,} steps, {f'fits of {args.fit_steps:,}' if args.fit_steps else 'one fit'}; "
        f"measured over the last {wall:.1f}s: UI thread {app.cpu / wall * 1000:.1f} ms "
        f"of CPU per second ({share:.1%} of a core)"
    )
    framing = sum(frames.seconds.values())
    print(
        f"  ticks (drain, fold, redraw) {app.tick_cpu / wall * 1000:.1f} ms/s; frames "
        f"{framing / wall * 1000:.1f} ms/s ({sum(frames.calls.values()) / wall:.1f} a second); "
        f"the rest (event loop, Textual's messages and timers) "
        f"{(app.cpu - app.tick_cpu - framing) / wall * 1000:.1f} ms/s"
    )
    print("frames, by what changed:")
    for kind, seconds in frames.seconds.most_common(6):
        calls = frames.calls[kind]
        print(
            f"  {kind}: {seconds / wall * 1000:.2f} ms/s "
            f"({calls / wall:.1f} a second, {seconds / calls * 1000:.2f} ms each)"
        )
    rendering = sum(clock.seconds.values())
    print(f"rendering widgets (Widget.render_lines): {rendering / wall * 1000:.1f} ms/s, of which")
    for name, seconds in clock.seconds.most_common(10):
        calls = clock.calls[name]
        print(
            f"  {name}: {seconds / wall * 1000:.2f} ms/s "
            f"({calls / wall:.1f} calls/s, {seconds / calls * 1000:.2f} ms each)"
        )
    bare = BareApp(int(args.seconds * REFRESH_HZ))
    if not args.no_bare:
        bare.run(headless=True, size=SIZE)
    if bare.share is not None:
        print(
            f"a bare Textual app repainting one line {REFRESH_HZ} times a second: "
            f"{bare.share * 1000:.1f} ms of CPU per second ({bare.share:.1%} of a core)"
        )
        print(
            ratio_line(
                "ui_thread_cpu/bare_textual",
                share / bare.share,
                None,
                "the monitor's UI thread over Textual's floor at the same frame rate",
            )
        )
    print(
        ratio_line(
            "ui_thread_cpu/goal",
            share / GOAL_SHARE,
            1,
            f"the UI thread's CPU share of a core at {STEPS_PER_SECOND:,} steps/s over 3%",
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
