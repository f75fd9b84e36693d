"""The live monitor: a Textual app that renders what the engine emits."""

from __future__ import annotations

import time
from collections.abc import Callable

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.reactive import reactive
from textual.widgets import Footer, Label

from kmon.engine.sources import EventSource
from kmon.engine.state import RunState

from .screens.confirm_quit import ConfirmQuit
from .screens.help import HelpScreen
from .widgets.log_pane import LogPane
from .widgets.run_header import RunHeader
from .widgets.series_panel import SeriesPanel, describe_series, describe_values

#: Redraws per second; events are drained and coalesced between them.
REFRESH_HZ = 10
#: Below this size the panes cannot show their content; say so instead.
MIN_WIDTH, MIN_HEIGHT = 60, 16

BATCH_CAPTION = "batch loss · Keras's running mean over the epoch (what its progress bar shows)"
EPOCH_CAPTION = "epoch loss (what History records)"
VAL_CAPTION = "val_loss (validation, after each epoch)"


class MonitorApp(App[str]):
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
    BINDINGS = [
        Binding("q", "quit_monitor", "Quit"),
        Binding("ctrl+c", "quit_monitor", "Quit", show=False, priority=True),
        Binding("question_mark", "help", "Help", key_display="?"),
    ]

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

    def compose(self) -> ComposeResult:
        yield RunHeader(id="header")
        with Vertical(id="main"):
            yield SeriesPanel(BATCH_CAPTION, id="batch-loss")
            with Vertical(id="epoch-row"):
                yield SeriesPanel(EPOCH_CAPTION, id="epoch-loss")
                yield SeriesPanel(VAL_CAPTION, id="val-loss")
            yield LogPane(id="log")
        yield Label("", id="too-small")
        yield Footer()

    def on_mount(self) -> None:
        if self._on_ready is not None:
            self._on_ready()
        self.set_interval(1 / REFRESH_HZ, self.tick)
        self._check_size()
        self.tick()

    def on_resize(self) -> None:
        self._check_size()

    def _check_size(self) -> None:
        width, height = self.size
        small = width < MIN_WIDTH or height < MIN_HEIGHT
        self.screen.set_class(small, "-too-small")
        if small:
            self.query_one("#too-small", Label).update(
                f"Terminal too small ({width}x{height}); kmon needs at least "
                f"{MIN_WIDTH}x{MIN_HEIGHT}. Training goes on. q quits."
            )

    def tick(self) -> None:
        """Drain events, fold them into the state, redraw once."""
        events = self.source.drain()
        if events:
            self.state.apply_all(events)
        self.state.dropped = self.source.dropped
        self._redraw()
        if self.stopping and self.state.finished:
            self.exit("done")

    def _redraw(self) -> None:
        state = self.state
        now = self._clock() if self.source.live else (state.last_t or 0.0)
        self.query_one(RunHeader).show(state, now)
        if state.version == self._drawn_version:
            return
        self._drawn_version = state.version
        series = state.batch_loss
        self.query_one("#batch-loss", SeriesPanel).show(
            series.highs(), describe_series(series, unit="batches")
        )
        epoch_loss = state.epoch_series("loss")
        self.query_one("#epoch-loss", SeriesPanel).show(
            epoch_loss, describe_values(epoch_loss, unit="epochs")
        )
        val_loss = [v for v in state.epoch_series("val_loss")]
        self.query_one("#val-loss", SeriesPanel).show(
            val_loss, describe_values(val_loss, unit="epochs")
        )
        self.query_one(LogPane).show(state)

    def watch_stopping(self, stopping: bool) -> None:
        self.query_one(RunHeader).stopping = stopping

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def action_quit_monitor(self) -> None:
        if not (self.source.live and self.source.running):
            self.exit("done")
            return
        if self.stopping:
            self.push_screen(
                ConfirmQuit(
                    "Quit now, without waiting?",
                    "Training was asked to stop and has not ended yet. The event log "
                    "keeps everything so far.",
                ),
                self._on_quit_now_answer,
            )
            return
        self.push_screen(
            ConfirmQuit(
                "Stop training and quit?",
                "Training stops after the current batch (model.stop_training); "
                "the script then finishes and kmon exits.",
            ),
            self._on_stop_answer,
        )

    def _on_stop_answer(self, yes: bool | None) -> None:
        if yes:
            self.source.request_stop()
            self.stopping = True

    def _on_quit_now_answer(self, yes: bool | None) -> None:
        if yes:
            self.exit("abandon")
