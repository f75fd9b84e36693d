"""The Keras callback that turns training hooks into kmon events."""

from __future__ import annotations

import time
from collections.abc import Callable

import keras

from .events import Batch, EpochEnd, EpochStart, Event, FitEnd, FitStart, ValEnd
from .stop import StopSignal


class KmonCallback(keras.callbacks.Callback):
    """Streams one ``fit()`` call as kmon events.

    Each batch hook does O(1) work: it builds one small event and hands it to
    ``emit``, which must not block (see :class:`kmon.engine.bus.EventBus`). Keras
    already converted ``logs`` to Python floats and gives every hook a fresh dict, so
    the dict is kept as is, without a copy.

    The callback is ``async_safe``: it keeps no per-batch state, so Keras may call
    its batch hooks from worker threads and out of order (backends that are thread
    safe do). Step numbers travel in the events, so order can be restored.

    Args:
        emit: receives every event; called on the training thread.
        fit_index: 0-based number of this ``fit()`` call within the run.
        stop: when ``stop.requested`` turns true, training stops after the batch.
        samples: training samples per epoch when known (array inputs).
        batch_size: batch size when known (array inputs).
        initial_epoch: the ``initial_epoch`` passed to ``fit()``.
    """

    def __init__(
        self,
        emit: Callable[[Event], None],
        fit_index: int,
        *,
        stop: StopSignal | None = None,
        samples: int | None = None,
        batch_size: int | None = None,
        initial_epoch: int = 0,
    ) -> None:
        super().__init__()
        self.async_safe = True
        self._emit = emit
        self._fit = fit_index
        self._stop = stop or StopSignal()
        self._samples = samples
        self._batch_size = batch_size
        self._initial_epoch = initial_epoch
        self._epoch = initial_epoch
        self._steps_per_execution = 1

    def on_train_begin(self, logs=None):
        params = self.params or {}
        model = self.model
        self._steps_per_execution = int(getattr(model, "steps_per_execution", 1) or 1)
        self._emit(
            FitStart(
                fit=self._fit,
                epochs=int(params.get("epochs") or 1),
                steps=params.get("steps"),
                outputs=_output_names(model),
                model=getattr(model, "name", None),
                initial_epoch=self._initial_epoch,
                batch_size=self._batch_size,
                samples=self._samples,
                steps_per_execution=self._steps_per_execution,
            )
        )

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        self._emit(EpochStart(fit=self._fit, epoch=epoch))

    def on_train_batch_end(self, batch, logs=None):
        logs = logs or {}
        self._emit(
            Batch(
                fit=self._fit,
                epoch=self._epoch,
                step=batch,
                size=self._size_of(batch),
                logs=logs,
                t=time.time(),
            )
        )
        if self._stop.requested:
            self.model.stop_training = True

    def on_test_end(self, logs=None):
        # Only called for validation inside fit(): a user's own evaluate() builds
        # its own callback list without this callback.
        self._emit(ValEnd(fit=self._fit, epoch=self._epoch, logs=dict(logs or {})))

    def on_epoch_end(self, epoch, logs=None):
        self._emit(EpochEnd(fit=self._fit, epoch=epoch, logs=dict(logs or {})))

    def on_train_end(self, logs=None):
        stopped = bool(getattr(self.model, "stop_training", False))
        self._emit(FitEnd(fit=self._fit, stopped_early=stopped))

    def _size_of(self, step: int) -> int | None:
        """Samples in the steps that end at ``step`` (one Keras dispatch)."""
        samples, batch_size = self._samples, self._batch_size
        if samples is None or batch_size is None:
            return None
        spe = self._steps_per_execution
        first = (step // spe) * spe
        return max(0, min(samples, (step + 1) * batch_size) - first * batch_size)


def _output_names(model) -> list[str]:
    try:
        names = model.output_names
    except (AttributeError, ValueError):
        return []
    return [str(name) for name in names or []]
