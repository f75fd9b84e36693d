"""Where a run stands, derived from what :class:`~kmon.engine.view.state.RunState`
folded: the current fit and epoch, epochs done and to come, speed and ETAs."""

from __future__ import annotations

import math

from kmon.engine.phases import TRAINING
from kmon.engine.view.model_segments import ModelSegment
from kmon.engine.view.run_records import FitInfo


class RunProgress:
    """Read-only views over a :class:`~kmon.engine.view.state.RunState`'s fields
    (``fits``, ``fit``, ``epoch``, ``step``, ``history``, ``segments``, ``phase``,
    ``status``, ``started``, ``ended`` and its pace), kept apart from the fold that
    sets them."""


    @property
    def finished(self) -> bool:
        return self.status is not None

    @property
    def current_fit(self) -> FitInfo | None:
        if self.fit is None:
            return None
        for info in reversed(self.fits):
            if info.fit == self.fit:
                return info
        return None

    @property
    def current_segment(self) -> ModelSegment | None:
        """The model the current (or last) fit trains."""
        info = self.current_fit
        return self.segments[info.segment] if info is not None else None

    @property
    def steps(self) -> int | None:
        info = self.current_fit
        return info.steps if info else None

    @property
    def epoch_number(self) -> int | None:
        """1-based epoch across the run (epochs continue across fits)."""
        info = self.current_fit
        if info is None or self.epoch is None:
            return None
        return info.epoch_offset + self.epoch - info.initial_epoch + 1

    @property
    def fit_epoch(self) -> int | None:
        """1-based epoch within the current fit (``initial_epoch`` counts as done)."""
        info = self.current_fit
        if info is None or self.epoch is None:
            return None
        return self.epoch - info.initial_epoch + 1

    @property
    def fit_epochs(self) -> int | None:
        """Epochs the current fit runs (its ``epochs`` less its ``initial_epoch``)."""
        info = self.current_fit
        return max(info.epochs - info.initial_epoch, 0) if info is not None else None

    @property
    def epochs_done(self) -> int:
        """Epochs the run has finished, over all its fits."""
        return len(self.history)

    @property
    def epochs_total(self) -> int | None:
        """Epochs of the run as far as known: earlier fits' plus the current one's."""
        info = self.current_fit
        if info is None:
            return None
        return info.epoch_offset + max(info.epochs - info.initial_epoch, 0)

    @property
    def steps_per_second(self) -> float | None:
        """Training steps per second (the time between epochs left out)."""
        return self._pace.rate

    def elapsed(self, now: float) -> float:
        if self.started is None:
            return 0.0
        end = self.ended if self.ended is not None else now
        return max(end - self.started, 0.0)

    def epoch_progress(self) -> tuple[int, int | None]:
        """(steps done in this epoch, steps per epoch or None)."""
        done = (self.step + 1) if self.step is not None else 0
        return done, self.steps

    def epoch_eta_seconds(self) -> float | None:
        """Seconds until the current epoch ends, at the current speed, its
        validation as long as this fit's last one; None when not known or not
        training."""
        return self._etas()[0]

    def fit_eta_seconds(self) -> float | None:
        """Seconds until the current fit ends, as :meth:`epoch_eta_seconds` counts
        an epoch; an upper bound when :attr:`FitInfo.early_stopping` names any."""
        return self._etas()[1]

    def _etas(self) -> tuple[float | None, float | None]:
        info = self.current_fit
        if self.phase != TRAINING or info is None or info.steps is None or self.epoch is None:
            return None, None
        done = self.step + 1 if self.step is not None else 0
        return self._pace.etas(info.fit, info.epochs, info.steps, self.epoch, done)

    def epochs_of(self, fit: int) -> int:
        """Epochs that fit ``fit`` completed."""
        return sum(1 for record in self.history if record.fit == fit)

    def epoch_series(self, key: str) -> list[float]:
        """One value per finished epoch; NaN where the epoch did not log ``key``."""
        return [float(record.logs.get(key, math.nan)) for record in self.history]

    @property
    def last_epoch_logs(self) -> dict[str, float]:
        return self.history[-1].logs if self.history else {}
