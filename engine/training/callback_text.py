"""The texts and lists :class:`~.callback.KmonCallback` puts in its events: which
layers train differently, how each log key is recovered, the notices, and the
events a recovered dispatch stands for."""

from __future__ import annotations

from kmon.engine.events import Batch, Event, Notice, ValueKinds
from kmon.engine.training.metric_kinds import KeyKind
from kmon.engine.training.recovery import BrokenKey, Recovered
from kmon.engine.training.value_bounds import describe_range

#: Layers that behave differently while training: History's running mean is
#: computed with them active, evaluate() without.
TRAIN_MODE_LAYERS = (
    "Dropout",
    "SpatialDropout1D",
    "SpatialDropout2D",
    "SpatialDropout3D",
    "GaussianDropout",
    "GaussianNoise",
    "AlphaDropout",
    "BatchNormalization",
)

#: A stop reaches only the worker it was asked of; the others wait for it in their
#: next collective (gradients are all-reduced every step) until they are stopped.
MULTI_WORKER_STOP_NOTE = (
    "stopping this worker only: in a multi-worker run the other workers will wait for "
    "it; stop them too (kmon stop on each, or through your cluster launcher)"
)


def broken_text(broken: BrokenKey, step: int, epoch: int, fit: int) -> str:
    """The notice for a key whose recovered value left its range (see
    :class:`~.recovery.BrokenKey`)."""
    weighting = _WEIGHTINGS.get(broken.kind, broken.kind)
    value = "its mean square" if broken.kind == "rms" else "it"
    return (
        f"{broken.key}: the value recovered for step {step} of epoch {epoch} "
        f"(fit {fit}) is {broken.value:.4g}, but {value} "
        f"{describe_range((broken.low, broken.high))}: Keras's running mean of "
        f"{broken.key} is not weighted the way kmon read it ({weighting}), or the "
        "targets are outside what its loss expects; its per-batch values are not "
        "recoverable for the rest of this fit"
    )


#: How each kind of running mean weights its batches, for messages.
_WEIGHTINGS = {
    "mean": "by samples",
    "step_mean": "once per step",
    "rms": "by samples (as a root mean square)",
}


def describe_kinds(kinds: dict[str, KeyKind]) -> dict[str, str]:
    """What ``value_kinds`` says of each key: its kind, or why it is not recovered."""
    return {
        key: kind.kind if kind.kind else f"not recoverable: {kind.reason}"
        for key, kind in kinds.items()
    }


def train_mode_layers(model) -> list[str]:
    """``"name: Kind(rate)"`` for each of the model's layers in :data:`TRAIN_MODE_LAYERS`."""
    found = []
    for layer in getattr(model, "layers", []) or []:
        kind = type(layer).__name__
        if kind in TRAIN_MODE_LAYERS:
            rate = getattr(layer, "rate", None)
            found.append(f"{layer.name}: {kind}" + (f"({rate:g})" if rate else ""))
    return found


def dispatch_events(
    ready: Recovered,
    now: float,
    epoch: int,
    fit: int,
    heads: dict | None,
    extra_losses: list[str] | None,
) -> list[Event]:
    """The events one recovered dispatch stands for: its batch event, after the key
    kinds (the fit's first dispatch, with the head map and extra losses read after
    its step) and a notice for each key whose recovery broke there."""
    batch = Batch(
        fit=fit,
        epoch=epoch,
        step=ready.step,
        size=ready.size,
        logs=ready.logs,
        values=ready.values,
        span=ready.span,
        t=now,
    )
    if ready.kinds is None and not ready.broken:
        return [batch]
    events: list[Event] = []
    if ready.kinds is not None:
        events.append(
            ValueKinds(
                fit=fit,
                kinds=describe_kinds(ready.kinds),
                heads=heads,
                extra_losses=extra_losses,
                t=now,
            )
        )
    for broken in ready.broken or ():
        events.append(Notice(level="warning", text=broken_text(broken, ready.step, epoch, fit)))
    events.append(batch)
    return events
