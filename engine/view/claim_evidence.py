"""The claim checks of the multi-head and History scenarios, and what every check
shares: :class:`ClaimResult` and the readers of a run's folded state (History's keys,
alarms, the console lines Keras printed). See :mod:`.claim_checks`."""

from __future__ import annotations

import re
from dataclasses import dataclass

from kmon.engine.format import format_value
from kmon.engine.view.run_records import EpochRecord
from kmon.engine.view.state import RunState

#: A console loss line as Keras prints it: `` - loss: 0.1234``.
_CONSOLE_LOSS = re.compile(r"(?<![a-z_])loss: (-?[0-9.]+(?:e[-+]?[0-9]+)?|nan|inf)")
_EPOCH_HEADER = re.compile(r"^Epoch (\d+)/(\d+)")
#: The most a value printed to 4 decimals differs from it, plus float32's noise.
_ROUNDING = 5e-5 * 1.01


@dataclass(frozen=True)
class ClaimResult:
    """Attributes:
    holds: whether the claim is true on this run; None when the run cannot tell
        (it ended before it could show it).
    evidence: the run's numbers that decided it, one or two sentences.
    """

    holds: bool | None
    evidence: str


# -- reading the run ----------------------------------------------------------------


def last(state: RunState) -> EpochRecord | None:
    return state.history[-1] if state.history else None


def raised(state: RunState, kind: str):
    """The first ``raised`` alarm of ``kind`` this run saw, or None."""
    return next((a for a in state.alarm_history if a.kind == kind and a.state == "raised"), None)


def finished(state: RunState) -> bool:
    return state.status is not None


def train_keys(record: EpochRecord) -> list[str]:
    return [key for key in record.logs if not key.startswith("val_")]


def console_losses(state: RunState) -> tuple[list[float], int]:
    """The loss each epoch's last console line showed, and how many lines showed a
    loss at all (Keras's own progress output, captured as ``log`` events)."""
    per_epoch: list[float] = []
    lines = 0
    current: float | None = None
    for line in state.log_lines:
        if line.stream != "stdout":
            continue
        if _EPOCH_HEADER.match(line.text.strip()):
            if current is not None:
                per_epoch.append(current)
            current = None
            continue
        found = _CONSOLE_LOSS.search(line.text)
        if found:
            lines += 1
            current = float(found.group(1))
    if current is not None:
        per_epoch.append(current)
    return per_epoch, lines


# -- the checks ---------------------------------------------------------------------


def runs(state: RunState) -> ClaimResult:
    """The example runs as printed (its fit finishes)."""
    if not finished(state):
        return ClaimResult(None, "The run has not ended yet.")
    if state.status == "ok":
        return ClaimResult(True, f"It ran: {len(state.history)} epoch(s).")
    message = (state.error or {}).get("message", state.status)
    return ClaimResult(False, f"As printed it fails: {message}.")


def counts(state: RunState, losses: str, accuracies: str) -> ClaimResult:
    """History logs exactly ``losses`` losses and ``accuracies`` accuracies."""
    record = last(state)
    if record is None:
        return ClaimResult(None, "No epoch has finished yet.")
    keys = train_keys(record)
    loss_keys = [key for key in keys if key.endswith("loss")]
    accuracy_keys = [key for key in keys if key.endswith("accuracy")]
    holds = len(loss_keys) == int(losses) and len(accuracy_keys) == int(accuracies)
    return ClaimResult(
        holds,
        f"History logged {len(loss_keys)} losses ({', '.join(loss_keys)}) and "
        f"{len(accuracy_keys)} accuracies ({', '.join(accuracy_keys) or 'none'}).",
    )


def losses_equal_heads(state: RunState) -> ClaimResult:
    """The number of losses History logs is the number of output heads."""
    record = last(state)
    if record is None or not state.fits:
        return ClaimResult(None, "No epoch has finished yet.")
    heads = state.fits[-1].outputs
    loss_keys = [key for key in train_keys(record) if key.endswith("loss")]
    return ClaimResult(
        len(loss_keys) == len(heads),
        f"{len(heads)} heads ({', '.join(heads)}) logged {len(loss_keys)} losses: "
        f"{', '.join(loss_keys)}.",
    )


def outputs(state: RunState, expected: str) -> ClaimResult:
    """The model has ``expected`` outputs."""
    if not state.fits:
        return ClaimResult(None, "fit() has not started yet.")
    found = state.fits[-1].outputs
    return ClaimResult(
        len(found) == int(expected),
        f"The model has {len(found)} output(s): {', '.join(found) or 'unnamed'}.",
    )


def logged(state: RunState, key: str) -> ClaimResult:
    """History logs ``key``."""
    record = last(state)
    if record is None:
        return ClaimResult(None, "No epoch has finished yet.")
    value = record.logs.get(key)
    if value is None:
        return ClaimResult(False, f"History has no {key}.")
    return ClaimResult(True, f"History logged {key} = {format_value(value)}.")


def every_head_has_metric(state: RunState) -> ClaimResult:
    """Claim: a metric on every head needs another model design. True when some head
    still has none after compile(metrics=...) named each one."""
    record = last(state)
    if record is None or not state.fits:
        return ClaimResult(None, "No epoch has finished yet.")
    heads = state.fits[-1].outputs
    keys = train_keys(record)
    bare = [
        head
        for head in heads
        if not any(key.startswith(f"{head}_") and not key.endswith("_loss") for key in keys)
    ]
    if bare:
        return ClaimResult(True, f"Heads without a metric: {', '.join(bare)}.")
    return ClaimResult(
        False,
        f"Same model, one metric per head in compile(): all {len(heads)} heads log one.",
    )


def total_is_weighted_sum(state: RunState) -> ClaimResult:
    """Per batch, the total loss is the loss-weighted sum of the head losses."""
    board = state.heads
    check = board.last_check if board else None
    if check is None or not check.batches:
        return ClaimResult(None, "No epoch's batches have been checked yet.")
    return ClaimResult(
        check.holds,
        f"Checked on {check.batches} batches: largest difference {check.worst:.1e} of "
        "the total, with loss_weights applied.",
    )


def console_per_batch(state: RunState) -> ClaimResult:
    """The console printed a loss for every batch (Keras's own output, captured)."""
    if not finished(state):
        return ClaimResult(None, "The run has not ended yet.")
    batches = sum(record.steps for record in state.history)
    _, lines = console_losses(state)
    return ClaimResult(
        lines >= batches > 0,
        f"Keras printed {lines} loss line(s) for {batches} batches in {len(state.history)} epochs.",
    )


def console_differs(state: RunState) -> ClaimResult:
    """The loss the console showed at each epoch's end differs from History's by more
    than its 4-decimal rounding."""
    shown, _ = console_losses(state)
    history = [record.logs.get("loss") for record in state.history]
    pairs = [(a, b) for a, b in zip(shown, history, strict=False) if b is not None]
    if not pairs or len(shown) != len(history):
        return ClaimResult(None, "The console's epoch lines were not captured.")
    worst = max(abs(a - b) for a, b in pairs)
    last_shown, last_history = pairs[-1]
    return ClaimResult(
        worst > _ROUNDING,
        f"Epoch {len(pairs)}: the console showed loss {last_shown:.4f}, History holds "
        f"{format_value(last_history)}; the largest gap over {len(pairs)} epochs is "
        f"{worst:.1e}, within the display's 4-decimal rounding.",
    )


def history_is_mean(state: RunState) -> ClaimResult:
    """History's loss is the (batch-size weighted) mean of the epoch's batch losses."""
    record = last(state)
    stats = record.batch_losses if record else None
    if record is None or stats is None or not stats.count or "loss" not in record.logs:
        return ClaimResult(None, "No epoch with recovered batch losses yet.")
    history, mean = record.logs["loss"], stats.mean
    gap = abs(mean - history) / max(abs(history), 1e-12)
    return ClaimResult(
        gap < 1e-3,
        f"Epoch {record.number}: History {format_value(history)}, the batch-size "
        f"weighted mean of its {stats.count} batch losses {format_value(mean)} "
        f"(gap {gap:.1e}).",
    )


def _spread(state: RunState) -> tuple[float, EpochRecord] | None:
    record = last(state)
    stats = record.batch_losses if record else None
    if record is None or stats is None or stats.count < 2 or not stats.mean:
        return None
    return (stats.high - stats.low) / stats.mean, record


def wide_batch_spread(state: RunState, wide: str = "1") -> ClaimResult:
    """Batch losses spread (high - low) over more than ``wide`` times their mean;
    with ``wide`` "-" negated: "narrow" (the claim holds when they do not)."""
    found = _spread(state)
    if found is None:
        return ClaimResult(None, "No epoch with two recovered batch losses yet.")
    spread, record = found
    stats = record.batch_losses
    text = (
        f"Epoch {record.number}: {stats.count} batch losses from {format_value(stats.low)} "
        f"to {format_value(stats.high)}, a spread of {spread:.0%} of their mean "
        f"{format_value(stats.mean)} (History's loss)."
    )
    return ClaimResult(spread > float(wide), text)


def narrow_batch_spread(state: RunState) -> ClaimResult:
    """Batch losses within ±50% of their mean (a spread under 1x the mean)."""
    result = wide_batch_spread(state)
    return ClaimResult(None if result.holds is None else not result.holds, result.evidence)


def history_equals_evaluate(state: RunState) -> ClaimResult:
    """History's last loss is within 5% of evaluate() on the same training data."""
    record = last(state)
    if record is None or not record.train_eval or "loss" not in record.train_eval:
        return ClaimResult(None, "evaluate() on the training data has not run yet.")
    history, evaluated = record.logs["loss"], record.train_eval["loss"]
    gap = abs(history - evaluated) / max(abs(evaluated), 1e-12)
    return ClaimResult(
        gap < 0.05,
        f"Epoch {record.number}: History {format_value(history)}, evaluate() on the same "
        f"training data {format_value(evaluated)} ({gap:.0%} apart).",
    )


def stopped_early(state: RunState) -> ClaimResult:
    """EarlyStopping ended the fit before its last epoch."""
    if not finished(state) or not state.fits:
        return ClaimResult(None, "The run has not ended yet.")
    fit = state.fits[-1]
    done = len(state.history)
    return ClaimResult(
        done < fit.epochs,
        f"It trained {done} of {fit.epochs} epochs; History holds {done} losses.",
    )


def class_weights_applied(state: RunState) -> ClaimResult:
    """fit() weighted the batch losses by class, so History's loss is weighted."""
    record = last(state)
    if record is None or not state.fits:
        return ClaimResult(None, "No epoch has finished yet.")
    weighting = state.fits[-1].weighting
    text = f"fit() applied {weighting or 'no sample or class weights'}"
    if record.train_eval and "loss" in record.train_eval:
        text += (
            f"; History's loss {format_value(record.logs['loss'])} against evaluate()'s "
            f"unweighted {format_value(record.train_eval['loss'])} on the same data"
        )
    return ClaimResult(weighting == "class_weight", text + ".")
