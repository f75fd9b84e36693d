"""The monitor attached to a run in another process (`kmon attach`)."""

from __future__ import annotations

from textual.binding import Binding

from kmon.engine.format import printable
from kmon.engine.log.process_identity import SignalRefused
from kmon.engine.stop import stop_action_for

from .app import MonitorApp
from .screens.confirm_quit import ConfirmQuit, stop_detail


class AttachedMonitorApp(MonitorApp):
    """Quitting only detaches: the run goes on. `x` asks the run to stop."""

    BINDINGS = [
        Binding("q", "quit_monitor", "Detach"),
        Binding("x", "stop_run", "Stop run"),
    ]

    def __init__(self, source, **kwargs) -> None:
        super().__init__(source, **kwargs)
        self.notifications.watch_from_now()  # the log's history is not news

    def action_quit_monitor(self) -> None:
        self.exit("detach")

    def action_stop_run(self) -> None:
        if not self.source.running:
            self.notify("The run is not running.")
            return
        self.push_screen(
            ConfirmQuit(
                "Stop this run?",
                stop_detail(
                    stop_action_for(self.state.phase),
                    "SIGTERM to the run's process does it. The monitor stays attached.",
                ),
            ),
            self._on_stop_run_answer,
        )

    def _on_stop_run_answer(self, yes: bool | None) -> None:
        if not yes:
            return
        try:
            self.source.request_stop()
        except SignalRefused as exc:  # e.g. another user's run: say so, stay attached
            self.notify(
                printable(f"Not stopped: {exc}"), severity="error", timeout=10, markup=False
            )
            return
        self.query_one("RunHeader").stopping = True
