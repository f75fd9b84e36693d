"""The live monitor: a Textual app that renders what the engine emits."""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from typing import TypeVar

from textual import events
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.geometry import Size
from textual.reactive import reactive
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer, Label, TabbedContent, TabPane

from kmon.engine.log.sources import EventSource
from kmon.engine.view.state import RunState

from .batch_panels import (
    RUNNING_CAPTION,
    SMOOTHED_CAPTION,
    VALUES_CAPTION,
    show_batch_values,
    show_metrics,
    show_running_means,
)
from .frame_budget import FrameBudget
from .monitor_keys import MonitorKeys
from .notifications import TerminalNotifications
from .row_compositor import monitor_screen
from .ticker import Ticker
from .widgets.alarm_pane import AlarmPane
from .widgets.epoch_chart import EpochChart
from .widgets.explanation import Explanation
from .widgets.head_grid import HeadGrid
from .widgets.learning_rate_panel import LearningRatePanel
from .widgets.log_pane import LogPane
from .widgets.metric_filter import MetricFilter
from .widgets.run_header import RunHeader
from .widgets.series_panel import MetricPanels, SeriesPanel
from .widgets.system_pane import SystemPane

__all__ = ["RUNNING_CAPTION", "SMOOTHED_CAPTION", "VALUES_CAPTION", "MonitorApp"]

W = TypeVar("W", bound=Widget)

#: Ticks per second: a tick draws a frame that is due (see _between_frames).
REFRESH_HZ = 10
#: While a live run trains, a frame is drawn at most this often, and everything due
#: joins it: the header's progress line (steps, rate, ETAs), and news (a new epoch,
#: an alarm, the script's output), which waits for it. Each frame costs the UI thread
#: 1-6 ms whatever changed, holding the GIL the training thread needs: at 0.5 s (and
#: the batch panels each second) the UI thread took 15-19 µs a step of a
#: 1,000-steps-a-second fit, at 1 s (and 2 s) 8-10 (docs/benchmarks.md, eleventh
#: round). News drawn at once cost no less, and set the frames' clock to the epochs':
#: with epochs of about a second, the progress line showed each one's step 0.
FRAME_SECONDS = 1.0
#: What changes with every batch (the sparklines, their stats, the heads grid): at
#: most this often, in a frame of the header's. A panel frame costs 4-6 ms.
BATCH_PANELS_SECONDS = 2.0
#: Likewise for what changes at each epoch end (the plotext chart, the explanation):
#: plotext takes ~8 ms to draw the chart at 120x40.
EPOCH_PANELS_SECONDS = 5.0
#: While a live run trains, frames take at most this share of a core: a frame's CPU
#: (its redraw, and Textual's paint of it, up to the next tick) is paid from a
#: FrameBudget. A frame due waits for credit, but never past FRAME_MAX_SECONDS from
#: the last; batch panels due wait for credit too, but never past PANELS_MAX_SECONDS.
#: A frame costs 1.5-5 ms of CPU on a small VM whatever the step time, so there the
#: progress line comes every 1-2 s and the batch panels every 2-10 s; more often on
#: a quicker machine (docs/benchmarks.md, nineteenth round).
FRAME_SHARE = 0.0015
FRAME_BURST = 0.02
FRAME_MAX_SECONDS = 2.0
PANELS_MAX_SECONDS = 10.0
#: Frames that draw the epoch chart (plotext's build, its strips and the frame's
#: paint: 15-30 ms at 120x40 on a small VM) are paid apart, from this share: the
#: next chart waits the last chart frame's cost over it, at least
#: EPOCH_PANELS_SECONDS and at most EPOCH_PANELS_MAX_SECONDS. Short epochs are news
#: in the header's next frame.
CHART_SHARE = 0.0005
EPOCH_PANELS_MAX_SECONDS = 60.0
#: Between frames a tick sleeps until the next frame may be due, at most this long:
#: the run's end, a signal's request to close and the user's stop are seen within
#: it. An idle tick costs the UI thread ~0.1 ms while a training thread runs.
IDLE_TICK_SECONDS = 0.5
#: Below this size the panes cannot show their content; say so instead.
MIN_WIDTH, MIN_HEIGHT = 60, 16


class MonitorApp(MonitorKeys, App[str]):
    """Shows one run. Returns "done" on a normal exit, "abandon" when the user quit
    without waiting for a stopping run to end.

    Args:
        source: where events come from (live session or recording).
        on_ready: called once the app owns the terminal (the launcher re-points
            ``sys.stdout`` at the captured fds and lets the script start).
        clock: wall clock; replays and snapshot tests pass the recording's clock.
    """

    CSS_PATH = "monitor.tcss"
    TITLE = "kmon"
    # What each key does is MonitorKeys' (tui/monitor_keys.py).
    BINDINGS = [
        Binding("q", "quit_monitor", "Quit"),
        Binding("ctrl+c", "quit_monitor", "Quit", show=False, priority=True),
        Binding("l", "show_tab('loss-tab')", "Loss"),
        Binding("o", "show_tab('output-tab')", "Output"),
        Binding("a", "show_tab('alarms-tab')", "Alarms"),
        Binding("h", "show_tab('heads-tab')", "Heads"),
        Binding("y", "show_tab('system-tab')", "System", show=False),
        Binding("s", "toggle_smoothing", "Smooth"),
        Binding("g", "toggle_log_scale", "Log scale", show=False),
        # The epoch chart's view and the metric filter (help lists them).
        Binding("slash", "filter_metrics", "Filter", show=False, priority=True),
        Binding("left_square_bracket", "smoothing(-1)", "Smooth less", show=False),
        Binding("right_square_bracket", "smoothing(1)", "Smooth more", show=False),
        Binding("t", "cycle_x_axis", "X axis", show=False),
        Binding("p", "save_svg", "Screenshot", show=False),
        Binding("question_mark", "help", "Help", key_display="?"),
    ]

    RATIONED = True
    """While a run trains in this process, its frames are paid from a budget of
    FRAME_SHARE of a core, and its charts from CHART_SHARE: each holds the GIL the
    training thread needs. A bundled scenario's monitor is not rationed: its short
    runs are there to be watched."""

    smoothing: reactive[bool] = reactive(False)
    """Show the EMA of per-batch losses instead of the raw values."""

    log_scale: reactive[bool] = reactive(False)
    """Draw the batch sparklines on a log scale, for losses that fall by orders of
    magnitude (the stats beside them stay in the loss's own units)."""

    stopping: reactive[bool] = reactive(False)
    """The user asked a live run to stop; the app exits when the run ends."""

    def __init__(
        self,
        source: EventSource,
        *,
        on_ready: Callable[[], None] | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        super().__init__()
        self.source = source
        self.state = RunState()
        self._on_ready = on_ready
        self._clock = clock or time.time
        self._drawn_version = -1
        self._panels_version = -1
        self._panels_drawn_at = float("-inf")
        self._frame_at = float("-inf")
        self._ticker: Ticker | None = None
        self._gc_frozen = False
        self._news: tuple | None = None
        self._output_shown: tuple | None = None
        self._widgets: dict[object, Widget] = {}
        self._epochs_drawn: tuple[int, bool, int, bool] | None = None
        self._epochs_drawn_at = float("-inf")
        self._frame_budget = FrameBudget(FRAME_SHARE, FRAME_BURST, FRAME_MAX_SECONDS)
        self._frame_cpu_from: float | None = None
        """The UI thread's CPU time as the frame being painted began (None: none)."""
        self._chart_in_frame = False
        self._chart_frame_cpu = 0.0
        """CPU time of the last frame that drew the epoch chart, its paint included."""
        self.close_request: str | None = None
        """Set from outside the event loop (a signal handler) to close the app at
        the next tick with this result; e.g. "hangup" when the terminal went away."""
        self.notifications = TerminalNotifications(enabled=source.live)
        """Bell and desktop notifications of the run's end and its alarms."""
        self.stop_request = False
        """Set from outside the event loop (SIGTERM) to stop the run as the Quit
        dialog's yes does: the app exits once the run has ended."""

    def compose(self) -> ComposeResult:
        yield RunHeader(id="header")
        with TabbedContent(id="main", initial="loss-tab"):
            with TabPane("Loss", id="loss-tab"):
                yield SeriesPanel(VALUES_CAPTION, id="batch-values")
                yield SeriesPanel(RUNNING_CAPTION, id="batch-loss")
                yield MetricPanels(id="metric-panels")
                # In a box of their own: Textual renders again every widget whose
                # container overlaps a frame's changed rows, and the batch panels
                # above change each second; the chart, here, only with an epoch.
                with Vertical(id="epoch-box"):
                    yield EpochChart(id="epoch-chart")
                    yield LearningRatePanel(id="learning-rate")
                    with VerticalScroll(id="explanation-box"):
                        yield Explanation(id="explanation")
            with TabPane("Output", id="output-tab"):
                yield LogPane(id="log")
            with TabPane("Alarms", id="alarms-tab"):
                yield AlarmPane(id="alarms")
            with TabPane("Heads", id="heads-tab"):
                yield HeadGrid(id="head-grid")
            with TabPane("System", id="system-tab"):
                yield SystemPane(id="system")
        yield Label("", id="too-small")
        yield MetricFilter(id="metric-filter")
        yield Footer()

    def get_default_screen(self) -> Screen:
        # Its frames render the rows they change, not every container's all.
        return monitor_screen("_default")

    def on_mount(self) -> None:
        if self._on_ready is not None:
            self._on_ready()
        self._ticker = Ticker(self, 1 / REFRESH_HZ, self.tick)
        self._check_size()
        self.tick()

    def on_unmount(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()

    def on_resize(self, event: events.Resize) -> None:
        # App's own resize handler, which updates self.size, runs after this one.
        self._check_size(event.size)

    def _check_size(self, size: Size | None = None) -> None:
        width, height = size or self.size
        small = width < MIN_WIDTH or height < MIN_HEIGHT
        self.screen.set_class(small, "-too-small")
        if small:
            self.query_one("#too-small", Label).update(
                f"Terminal too small ({width}x{height}); kmon needs at least "
                f"{MIN_WIDTH}x{MIN_HEIGHT}. Training goes on. q quits."
            )

    def tick(self) -> None:
        """Drain events, fold them into the state, redraw once."""
        if not self.is_running:
            return
        if self.close_request is not None:
            self.exit(self.close_request)
            return
        if self.stop_request and not self.stopping:
            self.source.request_stop()
            self.stopping = True
        if self._frame_cpu_from is not None:
            self._paid_for_frame(time.thread_time() - self._frame_cpu_from)
        if self._between_frames():
            return
        events = self.source.drain()
        if events:
            self.state.apply_all(events)
            self.notifications.handle(self, events, self.state.name)
            if not self._gc_frozen and self.source.live and self.state.fits:
                # What lives as the first fit starts (TensorFlow, Keras, the model:
                # ~360,000 objects) leaves the collector's generations: a full
                # collection over them, which a fast run's events set off every few
                # tens of seconds, costs ~0.2 s of CPU. Collected first, once, so
                # that no garbage of the script's is frozen for good.
                gc.collect()
                gc.freeze()
                self._gc_frozen = True
        self.state.dropped = self.source.dropped
        if self.RATIONED and self._training_here():
            self._frame_cpu_from = time.thread_time()
        self._redraw()
        if self.stopping and self.state.finished:
            self.exit("done")
        if events and not self.source.live and self.source.running and self.return_value is None:
            # A recording still being read (a long log): read on at once, keys and
            # redraws in between, rather than one chunk per tick.
            self.call_after_refresh(self.tick)

    def _training_here(self) -> bool:
        """Whether a run trains in this process, which a frame's GIL time slows
        down: frames are spaced (and, :attr:`RATIONED`, paid for)."""
        source = self.source
        return source.buffered and source.running and not (self.stopping or self.state.finished)

    def _between_frames(self) -> bool:
        """Whether a tick has nothing to do: a run training in this process, no frame
        due (FRAME_SECONDS since the last, and credit in the frame budget, or
        FRAME_MAX_SECONDS since the last). Its events, news too, wait undrained in
        the channel for the next frame (a batch costs the same to recover and fold
        in a drain of one tape or of sixteen), and the ticker sleeps until then. A
        followed log is read at every tick: ``kmon attach`` catches up with a long
        one a chunk a tick."""
        if not self._training_here():
            return False
        since = time.monotonic() - self._frame_at
        early = 0.5 / REFRESH_HZ  # half a tick early is on time
        wait = FRAME_SECONDS - since
        if self.RATIONED:
            wait = min(max(wait, self._frame_budget.wait()), FRAME_MAX_SECONDS - since)
        if wait <= early:
            return False
        if self._ticker is not None:
            self._ticker.sleep(min(wait, IDLE_TICK_SECONDS))
        return True

    def _paid_for_frame(self, cpu: float) -> None:
        """The frame drawn at the last tick, painted since, cost ``cpu``: a chart's
        frame sets the chart's spacing, any other is paid from the budget."""
        self._frame_cpu_from = None
        if self._chart_in_frame:
            self._chart_in_frame = False
            self._chart_frame_cpu = cpu
        else:
            self._frame_budget.spend(cpu)

    def _redraw(self) -> None:
        """Redraw what is due, so that a tick makes one frame or none."""
        state = self.state
        now = self._clock() if self.source.live else (state.last_t or 0.0)
        frame = self._due(self._frame_at, FRAME_SECONDS)
        # Between frames, the header only if its first line may change (building it
        # costs ~0.2 ms); what this key misses shows at the next frame.
        news = (
            state.name, state.fit, state.epoch, state.phase, state.status, len(state.fits),
            len(state.alarm_history), state.error is not None, state.log_problem,
            self.stopping, self.size,
        )
        if frame or news != self._news:
            self._news = news
            if self._one(RunHeader).show(state, now, progress=frame):
                frame = True  # news is drawn now: what else is due joins its frame
        if frame:
            self._frame_at = time.monotonic()
        if state.version != self._drawn_version:
            self._drawn_version = state.version
            output = (state.log_total, len(state.notices), state.error is not None)
            if output != self._output_shown:  # a batch leaves the output alone
                self._output_shown = output
                self._one(LogPane).show(state)
            self._one(AlarmPane).show(state)
        if not frame:
            return
        # The run's end counts too (a run with no epoch says so then), another model's
        # start, and the end of training (the explanation takes its own height again).
        training = self.source.live and self.source.running and not state.finished
        epochs_key = (len(state.history), state.finished, len(state.segments), training)
        chart = self._one(EpochChart)
        epochs_wait = min(
            max(EPOCH_PANELS_SECONDS, self._chart_frame_cpu / CHART_SHARE),
            EPOCH_PANELS_MAX_SECONDS,
        )
        if epochs_key != self._epochs_drawn and self._due(self._epochs_drawn_at, epochs_wait):
            self._epochs_drawn = epochs_key
            if state.history:
                # A draw with no epoch (the run's first frames) starts no wait: the
                # first epoch is drawn as it ends, with the size changes it brings
                # (the learning-rate panel, the explanation's rows) and their layout
                # pass, not EPOCH_PANELS_SECONDS or more later in the middle of
                # training.
                self._epochs_drawn_at = time.monotonic()
            self._chart_in_frame = self._frame_cpu_from is not None and bool(state.history)
            chart.show(state)
            self._one(LearningRatePanel).show_rates(state)
            self._one(Explanation).show(state, shrink=not training)
        if (
            state.version != self._panels_version
            and self._due(self._panels_drawn_at, BATCH_PANELS_SECONDS)
            and (
                self._frame_cpu_from is None  # not rationed
                or self._frame_budget.allows()
                or self._due(self._panels_drawn_at, PANELS_MAX_SECONDS)
            )
        ):
            self._panels_version, self._panels_drawn_at = state.version, time.monotonic()
            self._show_batch_panels()
            active = self._one(TabbedContent).active
            if active == "heads-tab":
                self._one(HeadGrid).show(state)
            elif active == "system-tab":
                self._one(SystemPane).show(state)

    def _one(self, selector: str | type[W], expect_type: type[W] | None = None) -> W:
        """``query_one``, remembered: each tick redraws from a few of the same
        widgets, and a DOM query costs tens of µs of the UI thread (the monitor's
        widgets are made once, in ``compose``)."""
        widget = self._widgets.get(selector)
        if widget is None or not widget.is_attached:
            widget = self._widgets[selector] = self.query_one(selector)
        if expect_type is not None and not isinstance(widget, expect_type):
            raise TypeError(f"{selector!r} is a {type(widget).__name__}")
        return widget  # type: ignore[return-value]

    def _due(self, drawn_at: float, seconds: float) -> bool:
        """Whether a throttled redraw may happen now: at once once no more events
        can come (a finished run, a recording read to its end), else ``seconds``
        after the previous one."""
        if self.state.finished or not self.source.running:
            return True
        # Half a tick early is on time: ticks come every 1 / REFRESH_HZ s, give or take.
        return time.monotonic() - drawn_at >= seconds - 0.5 / REFRESH_HZ

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        # The heads grid (a table rebuilt at each change) and the alarms are drawn
        # only while shown (the tab's layout pass comes next).
        if event.pane.id == "alarms-tab":
            self._one(AlarmPane).show(self.state, hidden=True)
        elif event.pane.id == "heads-tab":
            self._one(HeadGrid).show(self.state)
        elif event.pane.id == "system-tab":
            self._one(SystemPane).show(self.state)

    def _show_batch_panels(self, *, values_only: bool = False) -> None:
        state, log_scale = self.state, self.log_scale
        show_batch_values(self, state, smoothing=self.smoothing, log_scale=log_scale)
        if not values_only:
            show_running_means(self, state, log_scale=log_scale)
            show_metrics(self, state, log_scale=log_scale)

    def watch_smoothing(self) -> None:
        if self.is_mounted:
            self._show_batch_panels(values_only=True)

    def watch_log_scale(self, log_scale: bool) -> None:
        if self.is_mounted:
            self._show_batch_panels()
            self.query_one(EpochChart).set_view(log_y=log_scale)

    def watch_stopping(self, stopping: bool) -> None:
        self.query_one(RunHeader).stopping = stopping
