"""The script's own output, newest at the bottom."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import RichLog

from kmon.engine.state import RunState


class LogPane(RichLog):
    """Shows the lines a run printed (stdout plain, stderr tinted), appending only
    what is new since the last tick."""

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

    @property
    def lines_shown(self) -> int:
        """How many of the run's lines (not wrapped screen rows) the pane has taken."""
        return self._shown

    def show(self, state: RunState) -> None:
        if state.log_total > self._shown:
            new = [line for line in state.log_lines if line.number > self._shown]
            for line in new:
                text = Text.from_ansi(line.text)
                if line.stream == "stderr":
                    text.stylize("yellow")
                self.write(text)
            self._shown = new[-1].number
            self.border_title = f"output · {state.log_total:,} lines"
        for notice in state.notices[self._notices_shown :]:
            # What kmon itself says, among the script's lines as headless prints it.
            style = "bold magenta" if notice.level == "warning" else "magenta"
            self.write(Text(f"[kmon] {notice.level}: {notice.text}", style=style))
        self._notices_shown = len(state.notices)
        if state.error and not self._error_shown:
            # The script's traceback, where Python would have printed it: last.
            self._error_shown = True
            error = state.error.get("traceback") or state.error.get("message") or ""
            self.write(Text(error.rstrip("\n"), style="red"))
