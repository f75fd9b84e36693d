"""Event streams of runs that train several models, or a model that logs no
``loss`` (a GAN), for the state and Loss-tab tests; built with :class:`EventStream`."""

from __future__ import annotations

from event_stream import EventStream

from kmon.engine.events import Event

STEPS = 4
BATCH = 8
GAN_REASON = "custom metric with unknown weighting"


def models_run(script: str = "models.py") -> EventStream:
    """The start of a run of ``script``, its events 0.1 s apart."""
    return EventStream(1_000.0, tick=0.1).run_start(f"/x/{script}", argv=[script])


def fit(
    stream: EventStream,
    model: str,
    *,
    model_index: int | None,
    epochs: int = 2,
    scale: float = 1.0,
    outputs: tuple[str, ...] = (),
) -> list[Event]:
    """Add the run's next fit, of ``model``, whose losses are about ``scale``,
    falling: batch values recovered, History's loss the epoch's mean (equal batch
    sizes). Returns the fit's events."""
    first = len(stream)
    stream.fit_start(
        epochs=epochs,
        steps=STEPS,
        outputs=list(outputs),
        model=model,
        batch_size=BATCH,
        samples=BATCH * STEPS,
        model_index=model_index,
    )
    stream.value_kinds({"loss": "mean"})
    for epoch in range(epochs):
        losses = [scale * (1.0 - 0.1 * epoch - 0.02 * step) for step in range(STEPS)]
        stream.epoch(losses, size=BATCH)
    stream.fit_end()
    return stream.events[first:]


def gan_fit(stream: EventStream, *, epochs: int = 2) -> list[Event]:
    """Add a fit whose train_step logs only ``d_loss`` and ``g_loss`` from its own
    trackers, on a dataset (no batch sizes): nothing is recoverable per batch.
    Returns the fit's events."""
    first = len(stream)
    stream.fit_start(epochs=epochs, steps=STEPS, model="gan", model_index=0)
    stream.value_kinds({key: f"not recoverable: {GAN_REASON}" for key in ("d_loss", "g_loss")})
    for _ in range(epochs):
        stream.epoch_start()
        for step in range(STEPS):
            stream.batch({"d_loss": 0.7 + 0.01 * step, "g_loss": 0.6 - 0.01 * step})
        stream.epoch_end()
    stream.fit_end()
    return stream.events[first:]


def three_models(stream: EventStream | None = None) -> list[Event]:
    """digits (1 fit, 2 epochs, losses ~50), router (1 fit, 2 epochs, ~3), then
    forecaster trained in a loop (3 fits of 1 epoch, ~0.5): 7 epochs, 5 fits.
    Added to ``stream`` (by default a new :func:`models_run`); returns its events."""
    if stream is None:
        stream = models_run()
    fit(stream, "digits", model_index=0, scale=50.0)
    fit(stream, "router", model_index=1, scale=3.0, outputs=("priority", "delay"))
    for _ in range(3):
        fit(stream, "forecaster", model_index=2, epochs=1, scale=0.5)
    return stream.run_end().events
