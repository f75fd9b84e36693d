"""Plain-text reporting for runs without a terminal: logs, CI, cron."""

from __future__ import annotations

import textwrap
from typing import TextIO

from kmon.engine.alarms.kinds import ENDED, INFO
from kmon.engine.alarms.messages import alarm_line
from kmon.engine.events import Alarm, EpochEnd, Event, FitEnd, FitStart, Log, Notice
from kmon.engine.format import format_duration, format_logs, format_value, ordered_keys
from kmon.engine.view.explain import explain_epoch
from kmon.engine.view.head_cells import table_lines
from kmon.engine.view.head_text import heads_summary, sum_check_text
from kmon.engine.view.run_records import EpochRecord, FitInfo
from kmon.engine.view.state import RunState

PREFIX = "[kmon]"
#: Epochs that end closer together than this come too fast to read line by line:
#: their lines are grouped (a script of many tiny fits printed 1,600 lines).
FAST_EPOCH_SECONDS = 1 / 3
#: A grouped line covers the fast epochs of about this long.
GROUP_SECONDS = 0.5
#: What prints nothing: batch events, and a live fit's blocks of them.
_BATCHES = frozenset({"batch", "batch_block"})


class HeadlessReporter:
    """Passes the script's output through and adds one line per epoch.

    Epochs that come faster than a few a second get one line about every
    ``GROUP_SECONDS`` for all of them (``epochs 12–57 … (46 epochs in 0.5 s)``);
    each fit's first and last epoch have a line of their own. The event log has
    every epoch.

    Args:
        out: where the script's stdout and kmon's lines go.
        err: where the script's stderr and failures go.
        log_path: named in the final summary.
        state: what was already shown (when a monitor hands over mid-run).
        explain_last_epoch: end the summary with why the last epoch's History loss
            is what it is, from this run's numbers (the monitor's explanation).
        quiet: print the summary only: no fit, epoch or info lines (the script's
            output, warnings, alarms and failures still print).
        echo_output: print the script's output from its ``log`` events; False where
            it reaches the terminal on its own, byte for byte
            (:mod:`~kmon.engine.run.output_through`).
    """

    def __init__(
        self,
        out: TextIO,
        err: TextIO,
        *,
        log_path: str | None = None,
        state: RunState | None = None,
        explain_last_epoch: bool = False,
        quiet: bool = False,
        echo_output: bool = True,
    ) -> None:
        self.out, self.err = out, err
        self.echo_output = echo_output
        self.log_path = log_path
        # Nobody draws this state's charts: it keeps no batch series.
        self.state = state if state is not None else RunState(batch_series=False)
        self.explain_last_epoch = explain_last_epoch
        self.quiet = quiet
        self._held: list[tuple[EpochEnd, EpochRecord]] = []
        """Fast epochs whose line is not printed yet."""
        self._last_epoch: EpochEnd | None = None
        self._last_line_t: float | None = None
        """When the epoch of the latest epoch line ended."""
        self._planned_epochs: int | None = None
        """The current fit's ``epochs``: its last planned epoch is never grouped."""

    def say(self, text: str) -> None:
        """One line from kmon itself."""
        self.out.write(f"{PREFIX} {text}\n")
        self.out.flush()

    def handle(self, events: list[Event]) -> None:
        # A run of batch events (and blocks of them) prints nothing and folds at once
        # (RunState.apply_all: the same state, in about half the time a batch of
        # folding them one by one); every other event is printed with the state up to it.
        state, start = self.state, 0
        for index, event in enumerate(events):
            if event.type not in _BATCHES:
                state.apply_all(events[start : index + 1])
                self._print(event)
                start = index + 1
        if start < len(events):
            state.apply_all(events[start:])
        self.out.flush()
        self.err.flush()

    def _print(self, event: Event) -> None:
        if isinstance(event, Log):
            if self.echo_output:
                stream = self.err if event.stream == "stderr" else self.out
                stream.write(event.text + "\n")
        elif self.quiet and not _always_shown(event):
            return
        elif isinstance(event, FitStart):
            steps = _plural(event.steps, "step") if event.steps is not None else "unknown steps"
            epochs = _plural(event.epochs - event.initial_epoch, "epoch")
            self._planned_epochs = event.epochs
            name = f" · model {event.model}" if event.model else ""
            self.out.write(f"{PREFIX} fit {event.fit}: {epochs} × {steps}{name}\n")
        elif isinstance(event, EpochEnd):
            self._on_epoch_end(event)
        elif isinstance(event, FitEnd):
            self._release(last_alone=True)  # a fit's last epoch has its own line
            info = self.state.current_fit
            if info is not None and info.fit == event.fit and info.stopped_early:
                self.out.write(self._stopped_early_line(info) + "\n")
        elif isinstance(event, Notice):
            self.out.write(f"{PREFIX} {event.level}: {event.text}\n")
        elif isinstance(event, Alarm):
            self.out.write(f"{PREFIX} {alarm_line(event, self.state.epoch_number)}\n")

    def _on_epoch_end(self, event: EpochEnd) -> None:
        record = self.state.history[-1]
        previous, self._last_epoch = self._last_epoch, event
        fast = (
            previous is not None
            and previous.fit == event.fit
            and event.t - previous.t < FAST_EPOCH_SECONDS
        )
        # A fit's last planned epoch has its own line however fast it came: waiting
        # for fit_end instead lost it whenever a group's time ran out on it.
        if not fast or event.epoch + 1 == self._planned_epochs:
            self._release()
            self._write_epoch(self._epoch_line(event, record), event)
            return
        self._held.append((event, record))
        if self._last_line_t is None or event.t - self._last_line_t >= GROUP_SECONDS:
            self._release()

    def _release(self, *, last_alone: bool = False) -> None:
        """Print the held epochs: the one's own line, or one line for them all.

        Args:
            last_alone: the last held epoch gets a line of its own (a fit's last).
        """
        if last_alone and len(self._held) > 1:
            last = self._held.pop()
            self._release()
            self._held = [last]
        if not self._held:
            return
        held, self._held = self._held, []
        event, record = held[-1]
        if len(held) == 1:
            self._write_epoch(self._epoch_line(event, record), event)
            return
        first = held[0][1]
        seconds = event.t - self._last_line_t if self._last_line_t is not None else None
        took = f" in {seconds:.1f} s" if seconds is not None else ""
        run = (
            f"; run epochs {first.number}–{record.number}"
            if first.number != first.epoch + 1
            else ""
        )
        self._write_epoch(
            f"{PREFIX} epochs {first.epoch + 1}–{event.epoch + 1}{self._of_fit(event.fit)} "
            f"(fit {event.fit}, {len(held)} epochs{took}{run}) · {format_logs(event.logs)}"
            f"{_last_validation(held)}",
            event,
        )

    def _write_epoch(self, line: str, event: EpochEnd) -> None:
        self.out.write(line + "\n")
        self._last_line_t = event.t
        self._write_heads()

    def _fit_info(self, fit: int) -> FitInfo | None:
        return next((info for info in reversed(self.state.fits) if info.fit == fit), None)

    def _of_fit(self, fit: int) -> str:
        """``/5`` for a fit of ``epochs=5``; empty when the fit is not known."""
        info = self._fit_info(fit)
        return f"/{info.epochs}" if info is not None else ""

    def _epoch_line(self, event: EpochEnd, record: EpochRecord) -> str:
        seconds = f" · {record.seconds:.1f}s" if record.seconds is not None else ""
        # Counted within the fit, as Keras's "Epoch 3/5" counts: the run's count so
        # far ("4/5") read as the run's end while later fits were still to come.
        run = f"; run epoch {record.number}" if record.number != event.epoch + 1 else ""
        line = (
            f"{PREFIX} epoch {event.epoch + 1}{self._of_fit(event.fit)} (fit {event.fit}{run})"
            f"{' · ' + _plural(record.steps, 'step') if record.steps else ''}{seconds}"
            f" · {_logs_with_constants(event.logs, record.baselines)}"
        )
        losses = record.batch_losses
        if losses is not None and losses.count > 1:
            line += f" · batch losses {losses.describe_range()}"
        elif losses is None and record.unrecovered_losses and record.recovered_losses:
            line += f" · batch losses: {record.unrecovered_losses} not recoverable"
        elif losses is None and "loss" in event.logs:
            info = self._fit_info(event.fit)
            spe = info.steps_per_execution if info is not None else 1
            line += (
                f" · losses recovered per execution of {spe} steps, not per batch"
                if spe > 1
                else " · batch losses not recoverable"
            )
        if record.train_eval and "loss" in record.train_eval:
            line += f" · evaluate(train) loss={format_value(record.train_eval['loss'])}"
        return line

    def _stopped_early_line(self, info: FitInfo) -> str:
        # The fit's own callbacks that can stop it, as its fit_start named them (an
        # older log's names none: then the usual one).
        stoppers = ["EarlyStopping"] if info.early_stopping is None else info.early_stopping
        by = ", ".join([*stoppers, "a stop request or another callback"])
        return (
            f"{PREFIX} fit {info.fit} stopped early, after {self.state.epochs_of(info.fit)} of "
            f"{_plural(info.epochs - info.initial_epoch, 'epoch')}: model.stop_training was "
            f"set (by {by})"
        )

    def finish(self) -> None:
        """Print the final summary (call once the last events were handled)."""
        self._release()  # a run cut short inside a fit
        state = self.state
        fits, epochs = len(state.fits), len(state.history)
        duration = format_duration(state.elapsed(state.last_t or 0))
        if state.status:
            ended = f"{PREFIX} run {state.status} in {duration}"
        else:  # a replayed log cut short, or of a run killed or still going
            ended = f"{PREFIX} the log ends before the run did (no run_end) · {duration} logged"
        parts = [
            ended,
            f"{_plural(fits, 'fit')}, {_plural(epochs, 'epoch')}, {_plural(state.total_steps, 'step')}",
        ]
        if state.history:
            final = state.last_epoch_logs
            parts.append("final " + format_logs(final))
        if state.dropped:
            parts.append(f"{state.dropped} batch events coalesced")
        active = [a for a in state.alarms.values() if a.severity != INFO]
        if active:
            kinds = [a.kind + (f" {a.subject}" if a.subject else "") for a in active]
            parts.append(f"{_plural(len(kinds), 'alarm')} active: {', '.join(kinds)}")
        infos = [a for a in state.alarms.values() if a.severity == INFO]
        if infos:
            kinds = [a.kind + (f" {a.subject}" if a.subject else "") for a in infos]
            parts.append(f"info: {', '.join(kinds)}")
        ended = [a for a in state.alarm_history if a.state == ENDED]
        if ended:
            kinds = [f"{a.kind}{f' {a.subject}' if a.subject else ''} (fit {a.fit})" for a in ended]
            parts.append(f"ended with their model: {', '.join(kinds)}")
        if self.log_path:
            incomplete = " (incomplete: see above)" if state.log_problem is not None else ""
            parts.append(f"log: {self.log_path}{incomplete}")
        self.out.write(" · ".join(parts) + "\n")
        self._write_heads(final=True)
        if self.explain_last_epoch and state.history:
            record = state.history[-1]
            fit = next((info for info in state.fits if info.fit == record.fit), None)
            self.out.write(prose(f"epoch {record.number}: {explain_epoch(record, fit)}") + "\n")
        if state.error:
            self.err.write(state.error.get("traceback") or state.error.get("message", ""))
            if not state.error.get("traceback", "").endswith("\n"):
                self.err.write("\n")
        self.out.flush()
        self.err.flush()

    def _write_heads(self, *, final: bool = False) -> None:
        """Per-head values as a compact table, for models with several outputs: after
        each epoch (the counts explained after the first), and in the final summary."""
        board = self.state.heads
        if board is None or not board.multi_head or not board.epochs_done:
            return
        if board.epochs_done == 1 and not final:
            legend = "in the tables: — not configured, · per head only"
            self.out.write(f"{PREFIX} heads: {heads_summary(board)} · {legend}\n")
        for line in table_lines(board):
            self.out.write(f"{PREFIX}   {line}\n")
        if final:
            self.out.write(f"{PREFIX} heads: {sum_check_text(board)}\n")


def _logs_with_constants(logs: dict[str, float], baselines: dict[str, float]) -> str:
    """``loss=0.6900 (constant 0.6931) val_loss=...``: :func:`format_logs` with each
    training loss's constant-predictor baseline beside it, where known."""
    if not baselines:
        return format_logs(logs)
    return " ".join(
        f"{key}={format_value(logs[key])}"
        + (f" (constant {format_value(baselines[key])})" if key in baselines else "")
        for key in ordered_keys(logs)
    )


def _last_validation(held: list[tuple[EpochEnd, EpochRecord]]) -> str:
    """The latest validation among grouped epochs, where the last of them had none
    (``validation_freq=2``): the group's line shows the last epoch's logs, and a
    validation result is what its user waits for."""
    if any(key.startswith("val_") for key in held[-1][0].logs):
        return ""
    for event, _ in reversed(held[:-1]):
        validation = {key: value for key, value in event.logs.items() if key.startswith("val_")}
        if validation:
            return f" · epoch {event.epoch + 1}: {format_logs(validation)}"
    return ""


def _always_shown(event: Event) -> bool:
    """What ``--quiet`` still prints: the script's output (printed before this is
    asked), kmon's warnings and the alarms (not the infos)."""
    if isinstance(event, Notice):
        return event.level != "info"
    return isinstance(event, Alarm) and event.severity != INFO


def prose(text: str) -> str:
    """A paragraph for a person (unlike the one-line, log-friendly epoch lines):
    wrapped at 100 columns, each line marked as kmon's."""
    return textwrap.fill(text, 100, initial_indent=f"{PREFIX} ", subsequent_indent=f"{PREFIX}   ")


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"
