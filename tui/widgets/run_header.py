"""The two-line header: what runs, where it is, how fast, how long."""

from __future__ import annotations

from rich.text import Text
from textual.geometry import Region
from textual.reactive import reactive
from textual.strip import Strip
from textual.widget import Widget

from kmon.engine.format import format_duration, printable
from kmon.engine.phases import (
    AWAITING_FIT_HINT,
    AWAITING_SCRIPT_HINT,
    NO_FIT_RAN_HINT,
    NO_FIT_SEEN_HINT,
    RUNNING_SCRIPT,
    STARTING,
    phase_label,
)
from kmon.engine.view.state import RunState
from kmon.engine.view.system_text import header_field, learning_rate_field

#: The progress bar keeps at least this many columns: the system and learning-rate
#: fields give way first.
MIN_BAR = 12

_STATUS_STYLE = {
    "ok": ("✔ finished", "bold green"),
    "failed": ("✘ failed", "bold red"),
    "stopped": ("■ stopped", "bold yellow"),
    "unfinished": ("… the log ends here (no run_end)", "bold yellow"),
}


class RunHeader(Widget):
    """Script name, fit and epoch, what the run is doing, step progress with ETAs,
    steps/s and elapsed time.

    It is asked to redraw 10 times a second, holding the GIL the training thread
    needs, so it paints two cached strips (``render_line``) rather than going through a
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
        self._shown: tuple[RunState, float] | None = None

    def show(self, state: RunState, now: float, *, progress: bool = True) -> bool:
        """Redraw from ``state``; ``now`` is the wall clock (or the replay's clock).

        With ``progress`` False the progress line is left as it is unless the first
        line changed (a new epoch, a status, an alarm): the app throttles the line
        that changes with every step (see ``FRAME_SECONDS`` in the app).

        Returns:
            Whether the first line changed (and both lines were repainted): news
            the app draws at once, with whatever else is waiting, in one frame.
        """
        self._shown = (state, now)
        size_width = self.size.width
        width = max(size_width - 2, 20)
        badge = _alarm_badge(state)
        room = width - badge.cell_len - 2 if badge is not None else width
        for detail in (2, 1, 0):
            # As much of where the run is as fits before the status and the badge.
            first, through_status = self._first_line(state, detail)
            if not size_width or through_status <= room:
                break
        if badge is not None:
            if first.cell_len > room:
                first.truncate(max(room, 0), overflow="ellipsis")
            first.append("  ")
            first.append_text(badge)
        if size_width and first.cell_len > width:  # a long failure reason
            first.truncate(width, overflow="ellipsis")
        lines = [first]
        news = _differs(first, self._lines[0])
        if progress or news:
            lines.append(self._second_line(state, now, width))
        for y, line in enumerate(lines):
            shown = self._lines[y]
            # An unchanged line is not repainted: no bytes to the terminal.
            if _differs(line, shown):
                self._lines[y], self._strips[y] = line, None
                self.refresh(Region(0, y, size_width, 1))
        return news

    def on_resize(self) -> None:
        # What fits depends on the width: a run that ended before the first layout
        # (a replay) was laid out for no width, and nothing else redraws it.
        if self._shown is not None:
            self.show(*self._shown)

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

    def _first_line(self, state: RunState, detail: int) -> tuple[Text, int]:
        """The first line, and its length up to the end of the status.

        ``detail`` 2 says everything; 1 leaves out the run's epochs done, 0 also the
        number of fits so far (for narrow terminals)."""
        line = Text()
        line.append("kmon ", style="bold")
        # The name comes from the log (a crafted one may hold terminal escapes).
        line.append(printable(state.name) if state.name else "starting…", style="bold cyan")
        fits = len(state.fits)
        if state.current_fit is not None:
            so_far = f" ({fits} so far)" if fits > 1 and detail > 0 else ""
            line.append(f"  fit {state.fit}{so_far}")
        if state.fit_epoch is not None:
            # Within this fit: while more fits may follow, "5/5" must not read as the
            # run's end.
            of_this_fit = " of this fit" if fits > 1 or not state.finished else ""
            line.append(f" · epoch {state.fit_epoch}/{state.fit_epochs}{of_this_fit}", style="bold")
            if state.current_fit is not None and state.current_fit.stopped_early:
                line.append(" (stopped early)", style="yellow")
            if fits > 1 and detail > 1:
                line.append(f" · {state.epochs_done} epochs done")
        line.append("  ")
        line.append(*self._status(state))
        through_status = line.cell_len
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
        return line, through_status

    def _status(self, state: RunState) -> tuple[str, str]:
        if state.status is not None:
            label, style = _STATUS_STYLE.get(state.status, (state.status, "bold"))
            if state.exit_code:
                label += f" (exit {state.exit_code})"
            return label, style
        if self.stopping:
            return "stopping…", "bold yellow"
        style = "yellow" if state.phase == STARTING else "green"  # still importing
        return f"● {phase_label(state.phase)}", style

    def _second_line(self, state: RunState, now: float, width: int) -> Text:
        elapsed = f"  elapsed {format_duration(state.elapsed(now))}"
        if not state.fits:
            return _before_any_fit(state, elapsed, width)
        done, steps = state.epoch_progress()
        rate = state.steps_per_second
        tail = Text()
        tail.append(f" {done}/{steps if steps is not None else '?'}")
        if rate:
            tail.append(f"  {rate:,.1f} steps/s")
        if not state.finished:
            tail.append(_etas(state))
        for extra in _run_fields(state):
            if width - tail.cell_len - len(elapsed) - len(extra) - 3 >= MIN_BAR:
                tail.append(f"  {extra}", style="cyan")
        tail.append(elapsed)
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


def _differs(line: Text, shown: Text) -> bool:
    """Whether ``line`` looks different from ``shown``. Compared by text and spans:
    building ``Text.markup`` took longer than the lines."""
    return line.plain != shown.plain or line.spans != shown.spans


def _run_fields(state: RunState) -> list[str]:
    """The learning rate, and the process's and GPUs' use (``system`` samples), in
    the order they give way when the line is short (the last first)."""
    return [
        field
        for field in (
            learning_rate_field(state.learning_rates.current),
            header_field(state.system.latest),
        )
        if field
    ]


def _etas(state: RunState) -> str:
    """``  epoch ETA 0:12 · fit ETA 1:10``; the fit's is marked as an upper bound
    (``≤1:10``) when a callback such as EarlyStopping may end it sooner."""
    epoch, fit = state.epoch_eta_seconds(), state.fit_eta_seconds()
    parts = []
    if epoch is not None:
        parts.append(f"epoch ETA {format_duration(epoch)}")
    if fit is not None:
        info = state.current_fit
        bound = "≤" if info is not None and info.early_stopping else ""
        parts.append(f"fit ETA {bound}{format_duration(fit)}")
    return "  " + " · ".join(parts) if parts else ""


def _before_any_fit(state: RunState, elapsed: str, width: int) -> Text:
    """No progress bar to draw yet: say what is awaited instead."""
    line = Text()
    if state.finished:
        line.append(f" {NO_FIT_RAN_HINT}", style="dim")
    elif state.no_fit_notice is not None:
        line.append(f" {NO_FIT_SEEN_HINT} (o: output)", style="bold yellow")
    elif state.phase == RUNNING_SCRIPT:
        line.append(f" {AWAITING_FIT_HINT}", style="dim")
    else:
        line.append(f" {AWAITING_SCRIPT_HINT}", style="dim")
    room = max(width - len(elapsed), 5)
    if line.cell_len > room:
        line.truncate(room, overflow="ellipsis")
    line.append(" " * (room - line.cell_len))
    line.append(elapsed)
    return line


def _alarm_badge(state: RunState) -> Text | None:
    """The active-alarm badge the first line ends with; None without alarms."""
    # Infos (a head learning slowly) are in the Alarms tab, not counted as alarms.
    alarms = {key: alarm for key, alarm in state.alarms.items() if alarm.severity != "info"}
    if not alarms:
        return None
    errors = any(alarm.severity == "error" for alarm in alarms.values())
    count = len(alarms)
    return Text(
        f" ⚠ {count} alarm{'s' if count > 1 else ''} (a) ",
        style="bold white on red" if errors else "bold black on yellow",
    )
