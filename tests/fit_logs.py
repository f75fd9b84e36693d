"""A real (tiny) fit's event log, written by kmon's own callback and writer: what
the replay tests (the column fold, the worker process) read."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np

from kmon.engine.events import RunEnd
from kmon.engine.log.eventlog import EventLogWriter
from kmon.engine.run.bus import EventBus
from kmon.engine.training.callback import KmonCallback


def write_tiny_fit_log(log: Path, *, run_end: bool = False) -> Path:
    """3 epochs of 250 batches of a one-layer regression, with validation, through
    batch tapes. The targets are noisy: the loss settles near 0.25, where the float32
    running totals hold every batch's value (a loss that falls a thousandfold within
    an epoch is not held there: tests/engine/test_recovery_precision.py), so every
    run of batch lines can fold by its columns. ``run_end``: end the log with a
    ``run_end`` (without it, a replay makes one up, timed when it reads the end)."""
    writer = EventLogWriter(log)
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2400, 4)).astype("float32")
    y = (x @ np.arange(1, 5, dtype="float32") + rng.normal(scale=0.5, size=2400))[:, None]
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)], name="tiny")
    model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    bus = EventBus(writer)
    callback = KmonCallback(bus.emit, 0, samples=2000, batch_size=8, batch_tapes=True)
    model.fit(
        x,
        y.astype("float32"),
        batch_size=8,
        epochs=3,
        validation_split=1 / 6,
        callbacks=[callback],
        verbose=0,
    )
    if run_end:
        bus.emit(RunEnd(status="ok", fits=1))
    writer.close()
    return log
