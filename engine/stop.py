"""The stop request shared by the monitor and the training thread."""

from __future__ import annotations


class StopSignal:
    """A flag the monitor raises to ask training to stop at the next batch.

    A plain attribute, not a ``threading.Event``: the training thread only reads it,
    and reading a bool takes no lock.
    """

    def __init__(self) -> None:
        self.requested = False

    def request(self) -> None:
        self.requested = True
