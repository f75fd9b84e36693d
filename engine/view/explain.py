"""Explanations computed from this run's own numbers: why History's loss is what it
is, and (:func:`explain_claims`) which of an article's claims this run confirmed or
refuted.

Each sentence states what Keras 3 does, checked against its trainers and by the
tests in ``tests/engine/test_loss_truth.py``: the loss in ``logs`` and History is the
sample-weighted running mean over the epoch (under Keras's own ``train_step``; an
overridden one may count every step once, which ``value_kinds`` tells, and the
sentences follow it); each batch's loss is computed with the
weights before that batch's update, in training mode; ``evaluate()`` and
validation use the final weights in inference mode.
"""

from __future__ import annotations

import math

from kmon.engine.events import STEP_MEAN
from kmon.engine.format import format_value
from kmon.engine.view.claim_checks import check_claim
from kmon.engine.view.run_records import EpochRecord, FitInfo
from kmon.engine.view.state import RunState

#: History's loss and the recovered batch mean agree to float32 precision.
_AGREEMENT = 1e-3

#: How ``value_kinds`` marks a key whose per-batch values are left out.
_NOT_RECOVERABLE = "not recoverable: "


def explain_epoch(record: EpochRecord, fit: FitInfo | None) -> str:
    """Why History's loss for ``record`` is what it is, and why other numbers differ."""
    history = record.logs.get("loss")
    if history is None:
        return _without_loss(record, fit)
    kind = fit.value_kinds.get("loss") if fit else None
    spe = fit.steps_per_execution if fit else 1
    parts = [_history_sentence(history, record, kind, spe)]
    if record.steps > 1:
        parts.append(
            "The weights changed after every batch, so early batches were scored by an "
            "older model than the one the epoch ended with."
        )
    layers = fit.train_mode_layers if fit else []
    if layers:
        parts.append(
            "Batch losses were computed in training mode, with " + ", ".join(layers) + " active."
        )
    weighting = fit.weighting if fit else None
    if weighting:
        parts.append(f"fit() applied {weighting.replace('_', ' ')}s to every batch loss.")
    if record.train_eval and "loss" in record.train_eval:
        without = ["the final weights", "in inference mode"]
        if weighting:
            without.append(f"without {weighting.replace('_', ' ')}s")
        parts.append(
            f"evaluate() on the same training data ({', '.join(without)}): "
            f"{format_value(record.train_eval['loss'])}."
        )
    val = record.logs.get("val_loss")
    if val is not None:
        parts.append(
            f"val_loss {format_value(val)} is the validation data scored after the epoch, "
            "with the final weights in inference mode."
        )
    return " ".join(parts)


def explain_latest(state: RunState) -> tuple[str, str] | None:
    """``(heading, text)`` of the monitor's explanation: the latest finished epoch,
    of the model training now. While a fit on another model has not finished an
    epoch yet, the text says so instead of explaining the previous model's numbers.
    None before the first epoch."""
    if not state.history:
        return None
    record = state.history[-1]
    segment = state.current_segment
    several = len(state.segments) > 1
    if segment is not None and several and record.segment != segment.number:
        name = f" ({segment.model})" if segment.model else ""
        earlier = state.segments[record.segment].model
        return (
            f"Model {segment.number + 1}{name}",
            f"Fit {segment.first_fit} trains another model than the last finished epoch "
            f"(epoch {record.number}{f', {earlier}' if earlier else ''}) did. Its first "
            f"epoch, epoch {segment.first_epoch} of the run, is explained when it ends.",
        )
    fit = next((info for info in state.fits if info.fit == record.fit), None)
    model = state.segments[record.segment].model if several else None
    heading = f"Epoch {record.number}" + (f" ({model})" if model else "")
    return heading, explain_epoch(record, fit)


def explain_claims(claims: list, state: RunState) -> list[tuple[str, str, str]]:
    """What this run says about the claims it tests: ``(word, claim text, evidence)``
    per claim, ``word`` "confirmed", "refuted" or "not shown yet", the evidence in
    this run's own numbers (:mod:`.claim_checks`). ``claims``: objects with ``text``
    and ``check`` (a bundled scenario's claims of the variant that ran)."""
    explained = []
    for claim in claims:
        result = check_claim(claim.check, state)
        word = {True: "confirmed", False: "refuted", None: "not shown yet"}[result.holds]
        explained.append((word, claim.text, result.evidence))
    return explained


def _without_loss(record: EpochRecord, fit: FitInfo | None) -> str:
    """A model that logs no ``loss`` (a GAN's ``d_loss`` and ``g_loss``)."""
    logged = {key: value for key, value in record.logs.items() if not key.startswith("val_")}
    if not logged:
        return "This epoch logged no loss."
    values = " and ".join(f"{key} {format_value(value)}" for key, value in logged.items())
    text = (
        f"This model logs no loss. History's {values} are the values it logged at the "
        "epoch's last batch"
    )
    kinds = fit.value_kinds if fit else {}
    reasons = sorted(
        {kinds[key].partition("not recoverable: ")[2] for key in logged if key in kinds} - {""}
    )
    if reasons:
        text += f"; per-batch values are not recoverable ({'; '.join(reasons)})"
    return text + "."


def _history_sentence(
    history: float, record: EpochRecord, kind: str | None, steps_per_execution: int = 1
) -> str:
    """``kind``: how the loss's running mean weights batches (``value_kinds``)."""
    stats = record.batch_losses
    if stats is None and steps_per_execution > 1:
        return (
            f"History's loss {format_value(history)} is Keras's running mean at the "
            f"epoch's last batch. With steps_per_execution={steps_per_execution}, Keras "
            f"reports once every {steps_per_execution} steps, so kmon recovers the mean "
            f"loss of each execution of {steps_per_execution} batches, not each batch's."
        )
    if stats is None and record.unrecovered_losses and record.recovered_losses:
        missing = record.unrecovered_losses
        return (
            f"History's loss {format_value(history)} is Keras's running mean at the "
            f"epoch's last batch. kmon recovered {record.recovered_losses} of this "
            f"epoch's batch losses, but {missing} "
            f"{'was' if missing == 1 else 'were'} not recoverable from the running "
            "means, so kmon gives no mean of its own."
        )
    if stats is None or stats.count == 0:
        why = "for this input"
        if kind and kind.startswith(_NOT_RECOVERABLE):
            why = "here: " + kind[len(_NOT_RECOVERABLE) :]
        return (
            f"History's loss {format_value(history)} is Keras's running mean at the "
            f"epoch's last batch (per-batch losses were not recoverable {why})."
        )
    if stats.count == 1:
        return f"History's loss {format_value(history)} is the loss of the epoch's only batch."
    per_step = kind == STEP_MEAN
    if per_step:
        sentence = (
            f"History's loss {format_value(history)} is the plain mean of this epoch's "
            f"{stats.count} batch losses ({stats.describe_range()}): the model's own "
            "train_step updates the loss tracker once per step, so every batch counts "
            "once whatever its size"
        )
        mean = stats.step_mean
    else:
        sentence = (
            f"History's loss {format_value(history)} is the mean of this epoch's "
            f"{stats.count} batch losses ({stats.describe_range()}), weighted by batch size"
        )
        mean = stats.mean
    if math.isfinite(mean) and math.isfinite(history):
        gap = abs(mean - history) / max(abs(history), 1e-12)
        if gap > _AGREEMENT:
            sentence += f" (kmon's recovered mean {format_value(mean)} differs by {gap:.1%})"
    sentence += "; the progress bar showed the same running mean."
    if stats.last_size < stats.largest:
        sentence += f" The last batch had {stats.last_size} samples, not {stats.largest}, " + (
            "yet counts as much as the others." if per_step else "and counts less."
        )
    return sentence
