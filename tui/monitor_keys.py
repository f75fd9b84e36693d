"""What the live monitor's keys do: switch tabs, change the views of the batch panels
and the epoch chart, save a screenshot, show help, and quit (asking first whether to
stop a run that still trains)."""

from __future__ import annotations

from textual.widgets import TabbedContent

from kmon.engine.stop import stop_action_for
from kmon.engine.view.epoch_axes import SMOOTHING_STEPS, X_MODES

from .screens.confirm_quit import STOP_QUESTIONS, ConfirmQuit, quit_detail
from .screens.help import HelpScreen
from .widgets.epoch_chart import EpochChart
from .widgets.head_grid import HeadGrid
from .widgets.metric_filter import MetricFilter


class MonitorKeys:
    """The actions of :class:`~kmon.tui.app.MonitorApp`'s keys, mixed into it.

    The keys themselves are the app's ``BINDINGS``: Textual reads bindings from
    ``DOMNode`` classes only. The actions use the app's ``state``, ``source``,
    ``stopping``, ``smoothing`` and ``log_scale``.
    """

    def action_filter_metrics(self) -> None:
        self.query_one(MetricFilter).open()

    def on_metric_filter_applied(self, event: MetricFilter.Applied) -> None:
        self.query_one(EpochChart).set_view(filter=event.text)
        self.query_one(HeadGrid).set_filter(event.text)

    def action_smoothing(self, step: int) -> None:
        """The epoch chart's EMA one step stronger (1) or weaker (-1)."""
        chart = self.query_one(EpochChart)
        steps = SMOOTHING_STEPS
        index = steps.index(chart.view.smoothing) if chart.view.smoothing in steps else 0
        chart.set_view(smoothing=steps[min(max(index + step, 0), len(steps) - 1)])

    def action_cycle_x_axis(self) -> None:
        chart = self.query_one(EpochChart)
        chart.set_view(x_mode=X_MODES[(X_MODES.index(chart.view.x_mode) + 1) % len(X_MODES)])

    def action_save_svg(self) -> None:
        """Textual's screenshot of the screen, as SVG, in the current folder."""
        try:
            path = self.save_screenshot()
        except OSError as error:
            self.notify(f"No screenshot: {error}", severity="error")
            return
        self.notify(f"Screenshot saved: {path}")

    def action_toggle_smoothing(self) -> None:
        self.smoothing = not self.smoothing

    def action_toggle_log_scale(self) -> None:
        self.log_scale = not self.log_scale

    def action_show_tab(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab

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
                    "The run was asked to stop and has not ended yet. Quitting now ends "
                    "the script where it is; the event log keeps everything so far.",
                ),
                self._on_quit_now_answer,
            )
            return
        # What a stop can do depends on what the script is doing (the engine decides
        # again when the answer comes): offer only that.
        self.push_screen(
            ConfirmQuit(*self._stop_question(), follow=self._stop_question),
            self._on_stop_answer,
        )

    def _stop_question(self) -> tuple[str, str]:
        action = stop_action_for(self.state.phase)
        return STOP_QUESTIONS[action], quit_detail(action)

    def _on_stop_answer(self, yes: bool | None) -> None:
        if yes:
            self.source.request_stop()
            self.stopping = True

    def _on_quit_now_answer(self, yes: bool | None) -> None:
        if yes:
            self.exit("abandon")
