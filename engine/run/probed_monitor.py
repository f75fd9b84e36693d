"""kmon's monitor callback carrying the fit's probes, as one entry in Keras's list.

Keras calls every callback in its list at every batch's begin and end, and between
two TensorFlow steps each call costs about a microsecond on cold caches, whether
the callback has work or not: a bound-method lookup, a frame, the callback's own
attributes. The probes' batch hooks mostly have none: the begin counts down to the
next look, the end keeps the loss. On TensorFlow the monitor's batch ends already
hold every batch's logs, in step order, on the training thread, so the probes take
the losses from them at their looks (:mod:`~kmon.engine.alarms.tape_losses`), and
the monitor's batch-begin countdown runs to whichever look is due first. Keras then
calls kmon twice a step instead of four times.

(Measured before this: one callback calling both callbacks' batch ends cost more
than it saved, for the frame it added; a C no-op as the probes' hooks cost as much
as their Python ones, since ``str.format`` and the like take keywords as a dict.)
"""

from __future__ import annotations

from functools import partial

from kmon.engine.alarms.probe_callback import ProbeCallback
from kmon.engine.training.callback import KmonCallback


class ProbedMonitor(KmonCallback):
    """A :class:`KmonCallback` that also runs a :class:`ProbeCallback`'s hooks, as if
    the probes came right after it in Keras's list.

    With batch tapes on TensorFlow, whose batch ends the probes can read, and
    without ``stop_on_nan`` (which stops at the NaN's own batch end); and where
    Keras calls batch ends from its pool (torch, JAX), calling the probes' batch
    end from this one's: see :func:`can_carry`.

    Example:

    ```python
    monitor = ProbedMonitor(events.append, 0, samples=len(x), batch_size=32,
                            batch_tapes=True)
    monitor.carry(ProbeCallback(events.append, 0, AlarmBook(events.append), FitData(x, y)))
    model.fit(x, y, batch_size=32, callbacks=[monitor])
    ```
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.probes: ProbeCallback | None = None
        """The probes carried (set by :meth:`carry` before the fit)."""
        self._probes_wait = 1
        """Batch begins until the probes' next look, as of this callback's last look."""
        self._own_wait = self._own_span = 1
        """Batch begins until this callback's own next look (the learning rate's), and
        from its last own look to that one: a look of the probes' alone skips
        :meth:`KmonCallback.look` (two calls, 2 µs each on cold caches)."""

    def carry(self, probes: ProbeCallback, *, tape_losses: bool = True) -> None:
        """Run ``probes``' hooks from this callback's; ``probes`` must not be in
        Keras's list too. ``tape_losses``: the probes read the losses off this
        callback's batch tapes (TensorFlow); else this callback's batch end calls
        theirs, on whichever thread Keras calls it (torch's and JAX's pools, where
        the tapes are not the probes' to read): the training thread then gets one
        kmon call at a batch's begin, not two."""
        if tape_losses:
            shipped = self.keep_batch_ends()
            if shipped is None:
                raise ValueError("only a monitor with batch tapes can carry the probes")
            probes.read_losses_from(shipped, partial(getattr, self, "_tape"))  # C calls: no frame
        else:
            # An instance attribute, so that on TensorFlow the batch end stays one frame.
            self.on_train_batch_end = self._end_with_probes
        self.probes = probes

    def _end_with_probes(self, batch, logs=None):
        KmonCallback.on_train_batch_end(self, batch, logs)
        self.probes.on_train_batch_end(batch, logs)

    def set_model(self, model):
        super().set_model(model)
        self.probes.set_model(model)

    def set_params(self, params):
        super().set_params(params)
        self.probes.set_params(params)

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        self._probes_wait = self._own_wait = self._own_span = 1
        self.probes.on_train_begin(logs)

    def on_epoch_begin(self, epoch, logs=None):
        super().on_epoch_begin(epoch, logs)
        self.probes.on_epoch_begin(epoch, logs)

    def look(self, batch: int) -> int:
        span = self._span
        self._own_wait -= span
        if self._own_wait <= 0:
            # The batches since the monitor's own last look, for the rate's countdown
            # (more than it asked for where it waited for the probes' look).
            self._span = self._own_span - self._own_wait
            self._own_wait = self._own_span = super().look(batch)
        self._probes_wait -= span
        if self._probes_wait <= 0:
            self._probes_wait = self.probes.look(batch)
        own, probes = self._own_wait, self._probes_wait
        # The monitor's own look (the rate's clock, about every 0.5 s) comes at the
        # probes' next one (at most 128 steps or 0.1 s away) rather than a look of
        # its own (10 µs), unless it asked for every batch (the first dispatch's).
        # Not when its countdown merely ran down to 1 between the probes' looks.
        return probes if self._own_span > 1 else min(own, probes)

    def on_epoch_end(self, epoch, logs=None):
        super().on_epoch_end(epoch, logs)
        # The rate the monitor just read: reading it again is a TensorFlow op of
        # 0.2-0.4 ms on the training thread, at every epoch's end.
        self.probes.on_epoch_end(epoch, logs, learning_rate=self.epoch_end_rate)

    def on_train_end(self, logs=None):
        super().on_train_end(logs)
        self.probes.on_train_end(logs)


def can_carry(
    batch_tapes: bool, stop_on_nan: bool, *, ends_on_training_thread: bool = True
) -> bool:
    """Whether the monitor can carry the probes: it tapes batch ends (TensorFlow),
    and a NaN loss need not stop training at its own batch; or Keras calls batch
    ends from its pool (torch, JAX), where the monitor's batch end calls the probes'."""
    return (batch_tapes and not stop_on_nan) or not ends_on_training_thread
