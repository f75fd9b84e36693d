"""A live monitor's share of a core for drawing its frames."""

from __future__ import annotations

import time
from collections.abc import Callable


class FrameBudget:
    """CPU time for frames, earned at ``share`` of a core as wall time passes and
    kept up to ``burst``; each frame's CPU is paid from it, the credit going below
    zero when a frame costs more than there was, but no lower than ``longest_wait``
    seconds of earning: a frame never waits longer than that for credit (the app
    draws one then whatever the credit), so a costlier one (a layout pass, the first
    frame of a fit) would only hold back the frames after it.

    A frame of a live run's monitor holds the GIL the training thread needs, and
    what it costs depends on the machine and the terminal (2 ms for a progress line
    on a small VM, 25 ms for a chart), not on how fast training is. So rather than
    a fixed rate, frames are drawn while there is credit: a quick machine gets
    more of them, and the monitor's cost to training stays under ``share``.

    Example:
        >>> budget = FrameBudget(share=0.002, burst=0.02, longest_wait=3.0, clock=lambda: 0.0)
        >>> budget.spend(0.025)
        >>> budget.allows()
        False
        >>> round(budget.wait(), 3)  # seconds until there is credit again
        2.5
        >>> budget.spend(0.1)  # owed at most 3 s of earning
        >>> round(budget.wait(), 3)
        3.0
    """

    def __init__(
        self,
        share: float,
        burst: float,
        longest_wait: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.share, self.burst = share, burst
        self._floor = -share * longest_wait
        self._clock = clock
        self._credit = burst
        self._at = clock()

    @property
    def credit(self) -> float:
        """CPU seconds the next frames may take (negative: owed)."""
        now = self._clock()
        self._credit = min(self.burst, self._credit + (now - self._at) * self.share)
        self._at = now
        return self._credit

    def spend(self, seconds: float) -> None:
        """A frame took ``seconds`` of CPU."""
        self._credit = max(self.credit - max(seconds, 0.0), self._floor)

    def allows(self) -> bool:
        """Whether a frame may be drawn now."""
        return self.credit >= 0.0

    def wait(self) -> float:
        """Seconds until a frame may be drawn (0 if it may now)."""
        return max(-self.credit, 0.0) / self.share
