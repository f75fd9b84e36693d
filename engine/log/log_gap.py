"""What the event log's writer says of a failing disk: its first failure, its gaps."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

from kmon.engine.events import LOG_TOPIC, Event, Notice


@dataclass(frozen=True, slots=True)
class LogFailure:
    """The first write that failed: from there on the log is incomplete."""

    t: float
    """Wall-clock time of the failure."""
    reason: str
    """The error as the system words it ("No space left on device")."""
    errno: int | None
    written: int
    """Events completely written before it."""
    offset: int
    """Bytes of the file up to the end of the last complete line before it."""
    after: str | None
    """Where training was at the last batch or epoch end written ("step 42 of epoch
    4"); None when none was."""

    def describe(self) -> str:
        """``from 23:41:05, after step 42 of epoch 4 (No space left on device)``."""
        after = f", after {self.after}" if self.after else ""
        return f"from {clock(self.t)}{after} ({self.reason})"


@dataclass(slots=True)
class Gap:
    """A stretch of time in which nothing could be written."""

    started: float
    reason: str
    after: str | None
    batches: int = 0
    """Batch events dropped in it."""
    others: int = 0
    """Other events dropped in it (the backlog was full)."""
    last_batch: Event | None = None
    """The latest batch event dropped in it: where training had got to."""


def gap_notice(gap: Gap) -> Notice:
    """The notice written where the log goes on after ``gap``."""
    after = f" (after {gap.after})" if gap.after else ""
    batch, until = gap.last_batch, ""
    if batch is not None:
        until = f" (at {_place(getattr(batch, 'fit', 0), batch.epoch, batch.step)})"
    lost = gap.batches + gap.others
    return Notice(
        level="warning",
        topic=LOG_TOPIC,
        text=f"event log gap from {clock(gap.started)}{after} to {clock(time.time())}"
        f"{until}: {lost} events not written ({gap.batches} of them batch events; "
        f"{gap.reason}) · written again from here",
    )


def describe_place(line: str | None) -> str | None:
    """``step 42 of epoch 4`` (counted from 1, as Keras's progress bar does) from a
    batch or epoch_end line."""
    if line is None:
        return None
    try:
        event = json.loads(line)
        fit, epoch, step = int(event.get("fit", 0)), int(event["epoch"]), event.get("step")
    except (ValueError, KeyError, TypeError):
        return None
    if event.get("type") == "epoch_end" or not isinstance(step, int):
        step = None
    return _place(fit, epoch, step)


def _place(fit: int, epoch: int, step: int | None) -> str:
    """``step 42 of epoch 4``, or ``the end of epoch 4`` when ``step`` is None, from
    the 0-based numbers in the events."""
    of_fit = f" of fit {fit}" if fit else ""
    if step is None:
        return f"the end of epoch {epoch + 1}{of_fit}"
    return f"step {step + 1} of epoch {epoch + 1}{of_fit}"


def clock(t: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(t))
