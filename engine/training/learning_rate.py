"""The optimizer's current learning rate, read from the training thread: at each
epoch's end, and every few seconds in between without slowing the batch hooks.

``optimizer.learning_rate`` is a variable (which ReduceLROnPlateau and the user's
callbacks assign), or for a ``LearningRateSchedule`` the schedule evaluated at
``optimizer.iterations``: Keras's own property gives both.
"""

from __future__ import annotations

import math
import time

import keras

#: Seconds between two readings during an epoch.
READ_SECONDS = 5.0
#: Batch hooks before the first look at the clock: the hooks in between do one
#: decrement each.
CLOCK_EVERY = 32
#: Then about this long between two looks, counted in batches at the pace of the
#: last ones: a look is a few µs on the cold caches between two steps, so 1 ms
#: steps took one every 32 batches where a reading is due every 5,000.
CLOCK_SECONDS = 0.5
#: At most this many batches between two looks.
CLOCK_MOST = 1024


def read_learning_rate(model) -> float | None:
    """The rate the optimizer's next step would use; None without an optimizer, with
    several (Keras's multi-optimizer wrappers), or when it cannot be read."""
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None or hasattr(optimizer, "optimizers"):
        return None
    try:
        rate = optimizer.learning_rate
        # A variable's own float() reads it in a quarter of convert_to_numpy's time
        # (15 against 66 µs on TensorFlow, warm): it runs at each fit's start and
        # epoch's end, on the training thread.
        value = (
            float(rate)
            if isinstance(rate, keras.Variable)
            else float(keras.ops.convert_to_numpy(rate))
        )
    except Exception:  # noqa: BLE001 - a custom optimizer's property may raise anything
        return None
    return value if not math.isnan(value) else None


class LearningRateWatch:
    """Tells a batch hook when to read the rate, and whether it changed.

    :meth:`due` is O(1): a decrement, and every :attr:`countdown` batches a look at
    the monotonic clock, about :data:`CLOCK_SECONDS` apart (the first after
    :data:`CLOCK_EVERY` batches). A caller that counts batches itself asks only
    every :attr:`countdown` batches, passing how many went by. Races between
    asynchronous hooks only shift a reading.
    """

    def __init__(self) -> None:
        self.countdown = CLOCK_EVERY
        """Batches until the next look at the clock."""
        self._read_at = self._looked_at = time.monotonic()
        self._batches = 0
        """Batches since the last look at the clock."""
        self.last: float | None = None
        """The last rate read."""

    def due(self, batches: int = 1) -> bool:
        """Whether to read the rate now, ``batches`` batches after the last call."""
        self.countdown -= batches
        self._batches += batches
        if self.countdown > 0:
            return False
        now = time.monotonic()
        elapsed, self._looked_at = now - self._looked_at, now
        paced = int(self._batches * CLOCK_SECONDS / elapsed) if elapsed > 0 else CLOCK_EVERY
        self.countdown, self._batches = max(1, min(CLOCK_MOST, paced)), 0
        return now - self._read_at >= READ_SECONDS

    def changed(self, value: float | None) -> bool:
        """Record a reading; True when it is new (to be sent)."""
        self._read_at = time.monotonic()
        if value is None or value == self.last:
            return False
        self.last = value
        return True
