"""The two-line header: what runs, where it is, how fast, how long."""

from __future__ import annotations

from rich.text import Text
from textual.geometry import Region
from textual.reactive import reactive
from textual.strip import Strip
from textual.widget import Widget

from kmon.engine.format import format_duration, printable
from kmon.engine.state import RunState

_STATUS_STYLE = {
    "ok": ("✔ finished", "bold green"),
    "failed": ("✘ failed", "bold red"),
    "stopped": ("■ stopped", "bold yellow"),
    "unfinished": ("… the log ends here (no run_end)", "bold yellow"),
}


class RunHeader(Widget):
    """Script name, fit and epoch, step progress with ETA, steps/s and elapsed time.

    It redraws 10 times a second, holding the GIL the training thread needs, so it
    paints two cached strips (``render_line``) rather than going through a
    ``Static``'s content pipeline, which costs several times as much per frame; and
    it repaints only the line that changed (mostly the progress line).
    """

    DEFAULT_CSS = """
    RunHeader {
        height: 2;
        padding: 0 1;
        background: $panel;
    }
    """

    stopping: reactive[bool] = reactive(False)
    """True once the user asked training to stop and it has not ended yet."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._lines: list[Text] = [Text(), Text()]
        self._strips: list[Strip | None] = [None, None]

    def show(self, state: RunState, now: float) -> None:
        """Redraw from ``state``; ``now`` is the wall clock (or the replay's clock)."""
        size_width = self.size.width
        width = max(size_width - 2, 20)
        first = _with_alarm_badge(self._first_line(state), state, width)
        if size_width and first.cell_len > width:  # a long failure reason
            first.truncate(width, overflow="ellipsis")
        for y, line in enumerate((first, self._second_line(state, now, width))):
            shown = self._lines[y]
            # An unchanged line is not repainted: no bytes to the terminal. Compared by
            # text and spans: building Text.markup took longer than the lines.
            if line.plain != shown.plain or line.spans != shown.spans:
                self._lines[y], self._strips[y] = line, None
                self.refresh(Region(0, y, size_width, 1))

    def render_line(self, y: int) -> Strip:
        if y >= len(self._strips):
            return Strip.blank(self.size.width)
        strip = self._strips[y]
        if strip is None:
            line = Strip(self._lines[y].render(self.app.console))
            strip = self._strips[y] = line.apply_style(self.rich_style)
        return strip

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._strips = [None, None]

    @property
    def text(self) -> str:
        """The header's two lines as plain text."""
        return "\n".join(line.plain for line in self._lines)

    def _first_line(self, state: RunState) -> Text:
        line = Text()
        line.append("kmon ", style="bold")
        # The name comes from the log (a crafted one may hold terminal escapes).
        line.append(printable(state.name) if state.name else "starting…", style="bold cyan")
        if state.current_fit is not None:
            fits = len(state.fits)
            line.append(f"  fit {state.fit}" + (f" ({fits} so far)" if fits > 1 else ""))
        if state.epoch_number is not None:
            line.append(f"  epoch {state.epoch_number}/{state.epochs_total}", style="bold")
            if state.current_fit is not None and state.current_fit.stopped_early:
                line.append(" (stopped early)", style="yellow")
        line.append("  ")
        line.append(*self._status(state))
        if state.error and state.error.get("message"):
            # Why it failed, in one line (the Output tab has the traceback).
            reason = state.error["message"].splitlines()[0]
            line.append(f": {reason}", style="red")
        problem = state.log_problem
        if problem is not None:
            # The log's own trouble, from where on and why (the Output tab has more).
            style = "bold red" if problem.level == "error" else "bold yellow"
            line.append(f"  ⚠ {problem.text.split(' · ', 1)[0]}", style=style)
        if state.dropped:
            line.append(f"  {state.dropped} batch events coalesced", style="dim")
        return line

    def _status(self, state: RunState) -> tuple[str, str]:
        if state.status is not None:
            label, style = _STATUS_STYLE.get(state.status, (state.status, "bold"))
            if state.exit_code:
                label += f" (exit {state.exit_code})"
            return label, style
        if self.stopping:
            return "stopping…", "bold yellow"
        if state.phase == "starting":
            return "● starting (importing TensorFlow…)", "yellow"
        return f"● {state.phase}", "green"

    def _second_line(self, state: RunState, now: float, width: int) -> Text:
        done, steps = state.epoch_progress()
        rate = state.steps_per_second
        tail = Text()
        tail.append(f" {done}/{steps if steps is not None else '?'}")
        if rate:
            tail.append(f"  {rate:,.1f} steps/s")
        eta = state.eta_seconds()
        if eta is not None and not state.finished:
            tail.append(f"  ETA {format_duration(eta)}")
        tail.append(f"  elapsed {format_duration(state.elapsed(now))}")
        bar_width = max(width - tail.cell_len - 1, 5)
        line = Text()
        if steps:
            filled = min(int(round(bar_width * done / steps)), bar_width)
            line.append("━" * filled, style="bold magenta")
            line.append("━" * (bar_width - filled), style="grey30")
        else:
            line.append("step " + str(done).ljust(bar_width - 5), style="magenta")
        line.append_text(tail)
        return line


def _with_alarm_badge(line: Text, state: RunState, width: int) -> Text:
    """``line`` with the active-alarm badge at its end, shortened so the badge stays
    visible in narrow terminals."""
    alarms = state.alarms
    if not alarms:
        return line
    errors = any(alarm.severity == "error" for alarm in alarms.values())
    count = len(alarms)
    badge = Text(
        f" ⚠ {count} alarm{'s' if count > 1 else ''} (a) ",
        style="bold white on red" if errors else "bold black on yellow",
    )
    room = width - badge.cell_len - 2
    if line.cell_len > room:
        line.truncate(max(room, 0), overflow="ellipsis")
    line.append("  ")
    line.append_text(badge)
    return line
