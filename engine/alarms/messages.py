"""The words of the alarms: each alarm's message from its evidence, and one line per
alarm event for headless output. Plain Python."""

from __future__ import annotations

from typing import Any

from kmon.engine.alarms.kinds import ENDED, EXPLODING_GRADIENTS, INFO, RAISED, VANISHING_GRADIENTS
from kmon.engine.format import format_ratio, format_value


def variance_message(transition: str, evidence: dict) -> str:
    """One line for a prediction-variance alarm's transition, from its evidence (the
    head, the spread measured and, when raised, the threshold and checks)."""
    head, ratio = evidence["head"], evidence["ratio"]
    if transition != RAISED:
        return f"head {head}: predictions vary again (ratio {format_value(ratio)})"
    if evidence["target_std"] is not None:
        what = (
            f"their std is {format_value(evidence['prediction_std'])} against the targets' "
            f"{format_value(evidence['target_std'])} (ratio {format_value(ratio)}, "
        )
    else:
        what = f"their log-probabilities vary by {format_value(ratio)} nats ("
    return (
        f"head {head}: predictions are nearly the same for every input: {what}"
        f"under {evidence['threshold']:g} for {evidence['checks']} checks in a row)"
    )


def collapse_message(transition: str, evidence: dict) -> str:
    """A prediction-variance alarm whose loss evidence was checked: the spread, the
    head's loss against the best constant's, and the gradients when they vanish."""
    text = variance_message(transition, evidence)
    if transition != RAISED or evidence.get("baseline") is None:
        return text
    text += (
        f"; its loss on the probe batch, {format_value(evidence['probe_loss'])}, is "
        f"{_versus(evidence['better_pct'])} the best constant's "
        f"{format_value(evidence['baseline'])}"
    )
    if evidence["better_pct"] > 0:
        text += f" ({_trend(evidence.get('trend_pct'))})"
    if evidence.get("gradient_layer"):
        ratio = evidence.get("gradient_ratio")
        gets = (
            "no gradient at all"
            if not ratio
            else f"{format_value(ratio)} times the last layer's gradient"
        )
        text += f"; gradients vanish: the first layer ({evidence['gradient_layer']}) gets {gets}"
    return text


def not_learning_yet_message(transition: str, evidence: dict) -> str:
    """One line for the "not learning yet" notice: the head, its spread, and how far
    its loss is from the best constant's."""
    head = evidence["head"]
    if transition != RAISED:
        if evidence.get("upgraded"):
            return f"head {head}: the evidence of a collapse arrived (see prediction_variance)"
        return f"head {head}: predictions vary again (ratio {format_value(evidence['ratio'])})"
    spread = (
        f"its log-probabilities vary by {format_value(evidence['ratio'])} nats"
        if evidence.get("target_std") is None
        else f"its predictions' std is {format_value(evidence['ratio'])} of the targets'"
    )
    return (
        f"head {head}: not learning yet (not collapsed): {spread} (under "
        f"{evidence['threshold']:g}); its loss on the probe batch, "
        f"{format_value(evidence['probe_loss'])}, is {_versus(evidence['better_pct'])} the "
        f"best constant's {format_value(evidence['baseline'])}, "
        f"{_trend(evidence.get('trend_pct'))}"
    )


def no_learning_message(transition: str, evidence: dict) -> str:
    """One line for a ``no_learning`` transition, from its evidence."""
    loss = format_value(evidence["loss"])
    if transition != RAISED:
        return f"the training loss improves again ({loss})"
    if evidence.get("baseline") is not None:
        where = (
            f"the training loss ({loss} over the epoch's second half) is "
            f"{_versus(evidence['better_pct'])} the best constant's "
            f"{format_value(evidence['baseline'])}"
        )
    else:
        where = f"the training loss is {loss} over the epoch's second half"
    change = evidence.get("improvement_pct")
    moved = ""
    if change is not None:
        moved = (
            f" and fell {format_ratio(change)}% since the last epoch"
            if change > 0
            else " and did not fall since the last epoch"
        )
        within = evidence.get("within_epoch_pct")
        if within is not None and change > 0:
            moved += f", {format_ratio(max(within, 0))}% within this one"
    reasons = []
    if evidence.get("trainable_weights") == 0:
        reasons.append("the model has no trainable weights")
    if evidence.get("learning_rate") == 0:
        reasons.append("the learning rate is 0")
    why = f" ({'; '.join(reasons)})" if reasons else ""
    return f"nothing is being learned: {where}{moved}{why}"


def _versus(better_pct: float) -> str:
    """``0.4% better than`` / ``12% worse than`` / ``29 times`` / ``no better than``."""
    if abs(better_pct) < 0.05:
        return "no better than"
    if better_pct < -100:
        return f"{format_ratio(1 - better_pct / 100)} times"
    word = "better" if better_pct > 0 else "worse"
    return f"{format_ratio(abs(better_pct))}% {word} than"


def _trend(trend_pct: float | None) -> str:
    if trend_pct is None:
        return "no trend yet"
    if abs(trend_pct) < 0.005:
        return "not gaining on it over the last checks"
    direction = "gaining" if trend_pct > 0 else "losing"
    return f"{direction} {format_ratio(abs(trend_pct))} points on it over the last checks"


def nan_loss_message(transition: str, loss: float) -> str:
    """One line for the NaN-loss alarm's transition at a batch whose loss is ``loss``."""
    if transition != RAISED:
        return f"the loss is finite again ({format_value(loss)})"
    return (
        f"the training loss is {format_value(loss)}: a batch's loss was not finite "
        "(Keras's running mean over the epoch keeps it)"
    )


def gradient_message(kind: str, transition: str, evidence: dict) -> str:
    """One line for a gradient alarm's transition, from its evidence."""
    first, last = evidence["first_layer"], evidence["last_layer"]
    norms = (
        f"|grad| {first} {format_value(evidence['first_norm'])}, "
        f"{last} {format_value(evidence['last_norm'])}"
    )
    if kind == VANISHING_GRADIENTS:
        if transition != RAISED:
            return f"gradients reach the first layers again ({norms})"
        if evidence.get("all_near_zero"):
            return (
                f"all gradients are near zero (total {format_value(evidence['total_norm'])}) "
                f"while the loss is {format_value(evidence['loss'])}"
            )
        if evidence["first_norm"] == 0:
            return (
                f"the first layer ({first}) gets no gradient at all, the last ({last}) "
                f"gets {format_value(evidence['last_norm'])}"
            )
        return (
            f"the first layer's gradient is {format_value(evidence['first_to_last'])} times "
            f"the last layer's ({norms})"
        )
    if kind == EXPLODING_GRADIENTS:
        if transition != RAISED:
            return (
                f"gradient norms are back to normal (total {format_value(evidence['total_norm'])})"
            )
        if evidence.get("nonfinite_layers"):
            return "gradients are NaN/Inf in " + ", ".join(evidence["nonfinite_layers"])
        return (
            f"the gradient norm grew {format_value(evidence['growth'])}x since the fit "
            f"started (total {format_value(evidence['total_norm'])})"
        )
    return kind


def overfitting_message(transition: str, evidence: dict) -> str:
    """One line for an overfitting alarm's transition, from its evidence (the loss
    watched, its best and where, its rise against the tolerance, the training loss)."""
    head = f"head {evidence['head']}: " if evidence.get("head") else ""
    metric, best = evidence["metric"], format_value(evidence["best"])
    current = format_value(evidence["current"])
    if transition != RAISED:
        return (
            f"{head}{metric} is back near its best: {current} against {best} "
            f"(within {format_value(evidence['clear_within'])})"
        )
    epochs = evidence["epochs_since_best"]
    return (
        f"{head}{metric} rose from its best, {best} at epoch {evidence['best_epoch']}, to "
        f"{current} over {epochs} epoch{'s' if epochs != 1 else ''} "
        f"(+{format_value(evidence['rise'])}, beyond its tolerance "
        f"{format_value(evidence['tolerance'])}) while the training loss fell from "
        f"{format_value(evidence['train_loss_at_best'])} to {format_value(evidence['train_loss'])}"
    )


def unstable_message(transition: str, evidence: dict) -> str:
    """One line for an unstable-training alarm's transition, from its evidence
    (per-batch spikes, or a rising epoch loss)."""
    if transition != RAISED:
        return (
            f"training is steady again: no loss spike and no rise for "
            f"{evidence['calm_epochs']} epochs (epoch loss {format_value(evidence['epoch_loss'])})"
        )
    if evidence.get("cause") == "rising":
        losses = ", ".join(format_value(v) for v in evidence["epoch_losses"])
        return (
            f"the training loss rose for {evidence['epochs_rising']} epochs in a row "
            f"({losses}), to {format_value(evidence['above_lowest'])}x its lowest "
            f"({format_value(evidence['lowest'])}; its highest so far: "
            f"{format_value(evidence['loss_scale'])}), without becoming NaN"
        )
    if evidence.get("cause") == "rebound":
        return (
            f"the batch losses went back up within the epoch: their running median (over "
            f"{evidence['window']} batches) climbed from its lowest "
            f"{format_value(evidence['lowest_median'])} back to {format_value(evidence['median'])}"
            f" ({format_value(evidence['above_lowest'])}x; the loss's highest so far: "
            f"{format_value(evidence['loss_scale'])}), without becoming NaN"
        )
    ratio = evidence.get("ratio")
    times = f", {format_value(ratio)}x" if ratio is not None else ""
    return (
        f"{evidence['spikes']} batch losses spiked above {evidence['threshold']:g}x their "
        f"running median (the largest {format_value(evidence['largest'])} against "
        f"{format_value(evidence['median_then'])}{times}) and the epoch's loss rose from "
        f"{format_value(evidence['previous_epoch_loss'])} to {format_value(evidence['epoch_loss'])}"
        f" (its highest so far: {format_value(evidence['loss_scale'])})"
    )


def alarm_line(event: Any, epoch_number: int | None = None) -> str:
    """One line for an alarm event: ``alarm raised: kind [severity] (where): message``.

    ``epoch_number`` is the 1-based epoch across the run, as the monitor counts.
    """
    subject = f" {event.subject}" if event.subject else ""
    if event.state == ENDED:
        where = f"with fit {event.fit}"
    elif epoch_number:
        # Decided at an epoch's end (overfitting, unstable training): no step.
        step = f", step {event.step}" if event.step is not None else ""
        where = f"epoch {epoch_number}{step}"
    else:
        where = "fit start"
    severity = f" [{event.severity}]" if event.state == RAISED else ""
    # An info is a notice, never an alarm to act on: its line says so.
    what = "info" if event.severity == INFO else "alarm"
    return f"{what} {event.state}: {event.kind}{subject}{severity} ({where}): {event.message}"
