"""The script's own output, newest at the bottom."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import RichLog

from kmon.engine.view.state import RunState


class LogPane(RichLog):
    """Shows the lines a run printed (stdout plain, stderr tinted), appending only
    what is new since the last tick.

    Lines are wrapped once, when written, at the pane's own width. RichLog would
    otherwise wrap at ``app.console``'s width, which is 80 columns under kmon (the
    console sizes itself from descriptors 0-2, which lead to the capture pipes), or
    at its ``min_width`` of 78 while the pane is hidden (it has no width then). So
    nothing is written while the Output tab is hidden: what came meanwhile is
    written when it is shown again.
    """

    DEFAULT_CSS = """
    LogPane {
        border: round $primary 50%;
        height: 1fr;
        min-height: 3;
    }
    """

    def __init__(self, *, max_lines: int = 2000, id: str | None = None) -> None:
        super().__init__(max_lines=max_lines, wrap=True, markup=False, highlight=False, id=id)
        self.border_title = "output"
        self._shown = 0
        self._notices_shown = 0
        self._error_shown = False
        self._state: RunState | None = None

    @property
    def lines_shown(self) -> int:
        """How many of the run's lines (not wrapped screen rows) the pane has taken."""
        return self._shown

    def show(self, state: RunState) -> None:
        self._state = state
        title = f"output · {state.log_total:,} lines" if state.log_total else "output"
        if self.border_title != title:  # setting it repaints the pane
            self.border_title = title
        width = self.scrollable_content_region.width
        if not width:  # hidden: see on_show
            return
        if state.log_total > self._shown:
            new = [line for line in state.log_lines if line.number > self._shown]
            for line in new:
                text = Text.from_ansi(line.text)
                if line.stream == "stderr":
                    text.stylize("yellow")
                self.write(text, width=width)
            self._shown = new[-1].number
        for notice in state.notices[self._notices_shown :]:
            # What kmon itself says, among the script's lines as headless prints it.
            style = "bold magenta" if notice.level == "warning" else "magenta"
            self.write(Text(f"[kmon] {notice.level}: {notice.text}", style=style), width=width)
        self._notices_shown = len(state.notices)
        if state.error and not self._error_shown:
            # The script's traceback, where Python would have printed it: last.
            self._error_shown = True
            error = state.error.get("traceback") or state.error.get("message") or ""
            self.write(Text(error.rstrip("\n"), style="red"), width=width)

    def on_show(self) -> None:
        if self._state is not None:
            self.show(self._state)
