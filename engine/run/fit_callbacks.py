"""kmon's callbacks for one ``fit()``, as the one callback Keras calls.

Keras calls every callback in its list at every batch's begin and end, whether the
callback has anything to do or not (a hook left as the base class's calls its
legacy alias, another call). Between two TensorFlow steps those calls are most of
what kmon costs the training thread: the caches are cold, and each call touches
the callback list, a bound method, a frame and the callback's own attributes. So the
monitor's callback and the probes' are one entry in Keras's list. It counts down
once for both, to whichever look comes first, and calls the two batch-end hooks
directly. Where batch ends run on the training thread in step order (TensorFlow), a
batch end also counts the batch begins down: while no look is due, the batch-begin
hook is a C callable that does nothing, so that Keras's call of it runs no Python.
"""

from __future__ import annotations

import keras

from kmon.engine.alarms.probe_callback import ProbeCallback
from kmon.engine.training.callback import KmonCallback

#: The batch-begin hook while no look is due, where batch ends count down: a bound
#: C method that takes any arguments and returns at once, with no Python frame.
NOTHING_DUE = "".format


class FitCallbacks(keras.callbacks.Callback):
    """The monitor's :class:`KmonCallback` and the :class:`ProbeCallback` of one fit,
    in that order, behind one Keras callback.

    Every hook either of them has is called on both, the monitor's first, as Keras
    would call them one after the other. Batch begins count down to the next
    :meth:`KmonCallback.look` or :meth:`ProbeCallback.look`, whichever is due first:
    the common batch begin is one decrement. With ``ends_in_order``, batch ends count
    instead, and the batch begin hook is :data:`NOTHING_DUE` until a look is.

    The callback is ``async_safe`` as both of its parts are.

    Example:

    ```python
    monitor = KmonCallback(events.append, 0)
    probes = ProbeCallback(events.append, 0, AlarmBook(events.append), FitData(x, y))
    model.fit(x, y, callbacks=[FitCallbacks(monitor, probes)])
    ```

    Args:
        monitor: the fit's batch and epoch events.
        probes: the fit's training alarms.
        ends_in_order: Keras calls every batch end on the training thread, in step
            order, before the next batch begins (TensorFlow; not JAX's or torch's
            asynchronous batch ends).
    """

    def __init__(
        self, monitor: KmonCallback, probes: ProbeCallback, *, ends_in_order: bool = False
    ) -> None:
        super().__init__()
        self.async_safe = monitor.async_safe and probes.async_safe
        self.monitor = monitor
        self.probes = probes
        self._parts = (monitor, probes)
        self._monitor_batch_end = monitor.on_train_batch_end
        self._probes_batch_end = probes.on_train_batch_end
        self._wait = 1
        """Batch begins until the next look of either part."""
        self._span = 1
        """Batch begins between the last look and the next."""
        self._waits = [1, 1]
        """Each part's batch begins until its next look, as of the last look."""
        self._ends_in_order = ends_in_order
        if ends_in_order:
            # Instance attributes, which Keras's lookup of the hooks finds first.
            self.on_train_batch_begin = self._look_now
            self.on_train_batch_end = self._batch_end_counting

    def set_model(self, model):
        super().set_model(model)
        for part in self._parts:
            part.set_model(model)

    def set_params(self, params):
        super().set_params(params)
        for part in self._parts:
            part.set_params(params)

    def on_train_begin(self, logs=None):
        self._wait = self._span = 1
        self._waits = [1, 1]
        if self._ends_in_order:
            self.on_train_batch_begin = self._look_now
        for part in self._parts:
            part.on_train_begin(logs)

    def on_epoch_begin(self, epoch, logs=None):
        for part in self._parts:
            part.on_epoch_begin(epoch, logs)

    def on_train_batch_begin(self, batch, logs=None):
        self._wait -= 1
        if self._wait > 0:
            return  # the common batch: neither part looks
        self._wait = self._look(batch)

    def _look(self, batch: int) -> int:
        """Let each part whose look is due look; batch begins until the next look."""
        waits, span = self._waits, self._span
        for index, part in enumerate(self._parts):
            waits[index] -= span
            if waits[index] <= 0:
                waits[index] = part.look(batch)
        self._span = min(waits)
        return self._span

    def _look_now(self, batch, logs=None):
        """The batch begin hook when a look is due, with ``ends_in_order``."""
        self.on_train_batch_begin = NOTHING_DUE
        self._wait = self._look(batch)

    def on_train_batch_end(self, batch, logs=None):
        self._monitor_batch_end(batch, logs)
        self._probes_batch_end(batch, logs)

    def _batch_end_counting(self, batch, logs=None):
        """The batch end hook with ``ends_in_order``: the next batch begin follows it."""
        self._monitor_batch_end(batch, logs)
        self._probes_batch_end(batch, logs)
        self._wait -= 1
        if self._wait <= 0:
            self.on_train_batch_begin = self._look_now

    def on_test_begin(self, logs=None):
        self.monitor.on_test_begin(logs)

    def on_test_end(self, logs=None):
        self.monitor.on_test_end(logs)

    def on_epoch_end(self, epoch, logs=None):
        for part in self._parts:
            part.on_epoch_end(epoch, logs)

    def on_train_end(self, logs=None):
        for part in self._parts:
            part.on_train_end(logs)
