"""How fast a run trains and how long its epoch and its fit have left.

Folded by :class:`~kmon.engine.view.state.RunState` from the events' times; every view
reads the rate and the ETAs from there.
"""

from __future__ import annotations

from collections import deque

#: Batches the training rate is measured over.
RATE_WINDOW = 64


class Pace:
    """Steps per second of training, and the time between epochs.

    The rate leaves out the time between an epoch's last batch and the next
    epoch's start (validation, the script's work between fits): the ETAs add the
    validation back once, as long as the fit's latest one took.
    """

    __slots__ = ("window", "paused", "epoch_open", "validated", "val_seconds")

    def __init__(self) -> None:
        self.window: deque[tuple[float, int]] = deque(maxlen=RATE_WINDOW)
        """(seconds of training, total steps) at recent batches: event times less
        :attr:`paused`. RunState appends to it for every batch."""
        self.paused = 0.0
        """Seconds spent between epochs so far."""
        self.epoch_open = False
        self.validated = False
        """The current epoch's validation ran."""
        self.val_seconds: tuple[int, float] | None = None
        """(fit, seconds) of the latest validation."""

    def _last_batch_t(self) -> float | None:
        return self.window[-1][0] + self.paused if self.window else None

    def epoch_started(self, t: float) -> None:
        self.epoch_open, self.validated = True, False
        last = self._last_batch_t()
        if last is not None:
            self.paused += max(t - last, 0.0)

    def validation_ended(self, fit: int, t: float) -> None:
        last = self._last_batch_t()
        if last is not None:
            self.val_seconds = (fit, max(t - last, 0.0))
        self.validated = True

    def epoch_ended(self) -> None:
        self.epoch_open = False

    @property
    def rate(self) -> float | None:
        """Training steps per second over the window; None before two batches."""
        window = self.window
        if len(window) < 2:
            return None
        (t0, s0), (t1, s1) = window[0], window[-1]
        if t1 <= t0:
            return None
        return (s1 - s0) / (t1 - t0)

    def etas(
        self, fit: int, epochs: int, steps: int, epoch: int, done: int
    ) -> tuple[float | None, float | None]:
        """Seconds left in the epoch and in the fit at the current rate, with
        validation as long as this fit's latest; None where not known.

        Args:
            fit: the fit's index.
            epochs: its ``epochs`` argument (the 0-based epoch it ends before).
            steps: steps per epoch.
            epoch: Keras's 0-based epoch now.
            done: steps done in this epoch.
        """
        rate = self.rate
        if not rate:
            return None, None
        val_seconds = self.val_seconds
        val = val_seconds[1] if val_seconds is not None and val_seconds[0] == fit else 0.0
        later = max(epochs - epoch - 1, 0) * (steps / rate + val)
        if not self.epoch_open:  # between an epoch's end and the next one's start
            return None, later
        left = max(steps - done, 0) / rate + (0.0 if self.validated else val)
        return left, left + later
