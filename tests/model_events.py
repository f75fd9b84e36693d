"""Hand-built event streams of runs that train several models, or a model that
logs no ``loss`` (a GAN), for the state and Loss-tab tests."""

from __future__ import annotations

from kmon.engine.events import (
    Batch,
    EpochEnd,
    EpochStart,
    Event,
    FitEnd,
    FitStart,
    RunEnd,
    RunStart,
    ValueKinds,
)

STEPS = 4
BATCH = 8
GAN_REASON = "custom metric with unknown weighting"


class Clock:
    """Event times, 0.1 s apart."""

    def __init__(self, t: float = 1_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        self.t += 0.1
        return self.t


def run_start(clock: Clock, script: str = "models.py") -> RunStart:
    return RunStart(script=f"/x/{script}", argv=[script], t=clock())


def run_end(clock: Clock, fits: int) -> RunEnd:
    return RunEnd(status="ok", exit_code=0, fits=fits, t=clock())


def fit(
    clock: Clock,
    number: int,
    model: str,
    model_index: int | None,
    *,
    epochs: int = 2,
    scale: float = 1.0,
    outputs: tuple[str, ...] = (),
) -> list[Event]:
    """One fit of ``model`` whose losses are about ``scale``, falling: batch values
    recovered, History's loss the epoch's mean (equal batch sizes)."""
    events: list[Event] = [
        FitStart(
            fit=number,
            epochs=epochs,
            steps=STEPS,
            outputs=list(outputs),
            model=model,
            batch_size=BATCH,
            samples=BATCH * STEPS,
            model_index=model_index,
            t=clock(),
        ),
        ValueKinds(fit=number, kinds={"loss": "mean"}, t=clock()),
    ]
    for epoch in range(epochs):
        events.append(EpochStart(fit=number, epoch=epoch, t=clock()))
        total = 0.0
        for step in range(STEPS):
            value = scale * (1.0 - 0.1 * epoch - 0.02 * step)
            total += value
            mean = total / (step + 1)
            events.append(
                Batch(
                    fit=number,
                    epoch=epoch,
                    step=step,
                    size=BATCH,
                    logs={"loss": mean},
                    values={"loss": value},
                    t=clock(),
                )
            )
        events.append(EpochEnd(fit=number, epoch=epoch, logs={"loss": mean}, t=clock()))
    events.append(FitEnd(fit=number, t=clock()))
    return events


def gan_fit(clock: Clock, number: int = 0, *, epochs: int = 2) -> list[Event]:
    """A fit whose train_step logs only ``d_loss`` and ``g_loss`` from its own
    trackers, on a dataset (no batch sizes): nothing is recoverable per batch."""
    events: list[Event] = [
        FitStart(fit=number, epochs=epochs, steps=STEPS, model="gan", model_index=0, t=clock()),
        ValueKinds(
            fit=number,
            kinds={key: f"not recoverable: {GAN_REASON}" for key in ("d_loss", "g_loss")},
            t=clock(),
        ),
    ]
    for epoch in range(epochs):
        events.append(EpochStart(fit=number, epoch=epoch, t=clock()))
        for step in range(STEPS):
            logs = {"d_loss": 0.7 + 0.01 * step, "g_loss": 0.6 - 0.01 * step}
            events.append(Batch(fit=number, epoch=epoch, step=step, logs=logs, t=clock()))
        events.append(EpochEnd(fit=number, epoch=epoch, logs=logs, t=clock()))
    events.append(FitEnd(fit=number, t=clock()))
    return events


def three_models(clock: Clock | None = None) -> list[Event]:
    """digits (1 fit, 2 epochs, losses ~50), router (1 fit, 2 epochs, ~3), then
    forecaster trained in a loop (3 fits of 1 epoch, ~0.5): 7 epochs, 5 fits."""
    clock = clock or Clock()
    events: list[Event] = [run_start(clock)]
    events += fit(clock, 0, "digits", 0, scale=50.0)
    events += fit(clock, 1, "router", 1, scale=3.0, outputs=("priority", "delay"))
    for number in (2, 3, 4):
        events += fit(clock, number, "forecaster", 2, epochs=1, scale=0.5)
    events.append(run_end(clock, 5))
    return events
