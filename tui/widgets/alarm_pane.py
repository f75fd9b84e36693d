"""Training alarms: the active ones with their evidence, causes and fixes, then the
history of every alarm raised, cleared and ended (with its model's training)."""

from __future__ import annotations

from typing import Any

from rich.console import Group, NewLine
from rich.padding import Padding
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from kmon.engine.alarms.advice import advice_for
from kmon.engine.alarms.kinds import ENDED, ERROR, INFO, RAISED
from kmon.engine.events import Alarm, Probes
from kmon.engine.format import format_duration, format_ratio, format_value
from kmon.engine.view.state import RunState

NO_ALARMS = "No active alarms."
_SEVERITY_STYLE = {ERROR: "bold red", "warning": "bold yellow", INFO: "bold blue"}
#: Evidence keys shown elsewhere in the entry.
_HIDDEN = {"head"}


class AlarmPane(VerticalScroll):
    """Redraws only when an alarm or an alarm note arrived."""

    DEFAULT_CSS = """
    AlarmPane {
        height: 1fr;
        padding: 0 1;
    }
    AlarmPane > #alarm-body {
        height: auto;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._drawn: tuple | None = None

    def compose(self) -> ComposeResult:
        yield Static(render_alarms(RunState()), id="alarm-body")

    def show(self, state: RunState, *, hidden: bool = False) -> None:
        """Draw the alarms of ``state`` if they changed. Hidden (another tab shown),
        only with ``hidden`` (the app's, as the tab is being shown): a refresh of a
        widget off the screen makes Textual map every widget again at the next frame
        (about 1 ms of the UI thread), and a fit start changes what the pane says."""
        if not (hidden or self.scrollable_content_region.width):
            return
        history = state.alarm_history
        key = (
            len(history),
            history[-1].t if history else None,
            len(state.notices),
            state.probes,
            bool(state.fits),
        )
        if key == self._drawn:
            return
        self._drawn = key
        # Its height changes with the text: a layout pass (only while shown).
        self.query_one("#alarm-body", Static).update(render_alarms(state))


def render_alarms(state: RunState) -> Group:
    """The pane's content, from the run state alone."""
    parts: list = []
    order = {ERROR: 0, INFO: 2}
    active = sorted(state.alarms.values(), key=lambda a: (order.get(a.severity, 1), a.t))
    # An info (a head learning slowly) is shown with the alarms, never counted as one.
    count = sum(1 for a in active if a.severity != INFO)
    if count:
        style = "bold red" if any(a.severity == ERROR for a in active) else "bold yellow"
        parts.append(Text(f"⚠ {count} active alarm{'s' if count > 1 else ''}", style=style))
    else:
        line = Text(f"✔ {NO_ALARMS} ", style="bold green")
        line.append(checks_text(state), style="dim")
        parts.append(line)
    for alarm in active:
        parts.append(NewLine())
        parts.extend(_entry(alarm, state))
    notes = _alarm_notes(state)
    if notes:
        parts += [NewLine(), Text("Notes", style="bold")]
        parts += [_indent(Text(f"· {note}", style="dim"), 2) for note in notes]
    if state.alarm_history:
        parts += [NewLine(), Text("History, newest first", style="bold")]
        parts += [
            _indent(_history_line(alarm, state), 2) for alarm in reversed(state.alarm_history)
        ]
    return Group(*parts)


def checks_text(state: RunState) -> str:
    """What kmon checks in the latest fit, from what the run said (its probes event)."""
    probes = state.probes
    if probes is None:
        if state.fits:
            return "This log does not say what kmon checked (an older kmon wrote it)."
        return "kmon's checks start with fit(); what they are shows here then."
    parts = []
    if probes.data:
        parts.append("the data when fit() started (scale, feature ranges, NaN/Inf)")
    probed = [
        what
        for on, what in (
            # The unit checks (dead_units, class_collapse) read the prediction probe.
            (
                probes.predictions,
                "the spread of the model's predictions, its dead ReLU units, the classes "
                "it predicts",
            ),
            (probes.gradients, "its gradients"),
        )
        if on
    ]
    if probed:
        samples = f"{probes.probe_samples:,} " if probes.probe_samples else ""
        parts.append(
            f"{' and '.join(probed)} on a fixed batch of {samples}probe samples while it "
            f"trains ({_pace(probes)})"
        )
    if probes.loss:
        # Decided on the epoch's losses: overfitting, no_learning, unstable_training.
        parts.append("the losses at each epoch's end (overfitting, no learning, unstable training)")
        stop = ", and stops training if it is NaN or Inf" if probes.stop_on_nan else ""
        parts.append(f"the loss after every batch{stop}")
    if not parts:
        return (
            "kmon checks nothing in this fit: the script turned its checks off "
            "(set_probe_config(enabled=False)), so no alarm can be raised."
        )
    text = "kmon checks " + _and(parts) + "."
    off = None
    if not probes.predictions:
        off = "Predictions and gradients are not probed"
    elif not probes.gradients:
        off = "Gradients are not probed"
    if off:
        why = " (see Notes)" if _alarm_notes(state) else ""
        text += f" {off}{why}."
    return text


def _alarm_notes(state: RunState) -> list[str]:
    """What the probes said about themselves (why a check is off or skipped)."""
    return [n.text.removeprefix("alarms: ") for n in state.notices if n.text.startswith("alarms:")]


def _pace(probes: Probes) -> str:
    """How often the probes that run may run: a share of training time, or steps."""
    running = [
        (what, budget, every)
        for on, what, budget, every in (
            (probes.predictions, "predictions", probes.budget, probes.every),
            (probes.gradients, "gradients", probes.gradient_budget, probes.gradient_every),
        )
        if on
    ]
    if all(every is None and budget is not None for _what, budget, every in running):
        return f"within {_share(sum(budget for _what, budget, _every in running))}"
    return ", ".join(
        f"{what} every {every:,} steps" if every is not None else f"{what} within {_share(budget)}"
        for what, budget, every in running
    )


def _share(budget: float) -> str:
    return f"{format_ratio(budget * 100)}% of training time"


def _and(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def _indent(renderable, left: int) -> Padding:
    return Padding(renderable, (0, 0, 0, left))


def _entry(alarm: Alarm, state: RunState) -> list:
    advice = advice_for(alarm.kind, alarm.evidence)
    title = Text("● ", style=_SEVERITY_STYLE.get(alarm.severity, "bold"))
    title.append(alarm.kind, style="bold")
    if alarm.subject:
        title.append(f" · {alarm.subject}", style="bold")
    if advice:
        title.append(f" — {advice.title}")
    title.append(f"  [{alarm.severity}, since {_where(alarm, state)}]", style="dim")
    lines: list = [title, _indent(Text(alarm.message), 2)]
    evidence = _evidence(alarm.evidence)
    if evidence:
        line = Text("evidence: ", style="bold")
        line.append(evidence, style="cyan")
        lines.append(_indent(line, 2))
    if advice:
        lines.append(_indent(Text("likely causes:", style="bold"), 2))
        lines += [_indent(Text(f"- {cause}"), 4) for cause in advice.causes]
        lines.append(_indent(Text("fixes:", style="bold"), 2))
        lines += [_indent(Text(f"- {fix}", style="green"), 4) for fix in advice.fixes]
    return lines


def _history_line(alarm: Alarm, state: RunState) -> Text:
    elapsed = alarm.t - state.started if state.started is not None else None
    line = Text(f"+{format_duration(elapsed)} ", style="dim")
    raised = alarm.state == RAISED
    if raised:
        line.append("raised ", style=_SEVERITY_STYLE.get(alarm.severity, "bold"))
    elif alarm.state == ENDED:  # not fixed: its model stopped training
        line.append("ended  ", style="bold")
    else:
        line.append("cleared", style="bold green")
    subject = f" {alarm.subject}" if alarm.subject else ""
    line.append(f" {alarm.kind}{subject}", style="bold")
    line.append(f" ({_where(alarm, state)}) ", style="dim")
    line.append(alarm.message)
    return line


def _where(alarm: Alarm, state: RunState) -> str:
    """1-based epoch across the run, as the header counts, and the step."""
    if alarm.state == ENDED:
        return f"with fit {alarm.fit}"
    fit = next((info for info in state.fits if info.fit == alarm.fit), None)
    if alarm.epoch is None or fit is None:
        return "fit start" if len(state.fits) < 2 else f"start of fit {alarm.fit}"
    number = fit.epoch_offset + alarm.epoch - fit.initial_epoch + 1
    if alarm.step is None:
        return f"epoch {number}"
    return f"epoch {number}, step {alarm.step}"


def _evidence(evidence: dict[str, Any]) -> str:
    parts = []
    for key, value in evidence.items():
        if key in _HIDDEN or value is None:
            continue
        if isinstance(value, bool):
            shown = "yes" if value else "no"
        elif isinstance(value, (int, float)):
            shown = format_value(value) if isinstance(value, float) else f"{value:,}"
        elif isinstance(value, (list, tuple)):
            shown = ", ".join(map(str, value))
        else:
            shown = str(value)
        parts.append(f"{key.replace('_', ' ')} {shown}")
    return " · ".join(parts)
