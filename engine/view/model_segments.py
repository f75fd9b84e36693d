"""Which fits of a run train the same model: the stretches its charts are cut into.

Losses of different models share no scale and no history (an MNIST cross-entropy,
a two-head weighted total, a regression's mse), and an alarm of one model says
nothing about the next. A run is therefore cut into segments, one per stretch of
consecutive fits that train the same model object.
"""

from __future__ import annotations

from dataclasses import dataclass

from kmon.engine.events import FitStart


@dataclass(slots=True)
class ModelSegment:
    """Consecutive fits that train the same model."""

    number: int
    """0-based, in the run's order; a model trained again after another one starts
    a segment of its own."""
    model: str | None
    """The model's name (``fit_start.model``)."""
    first_fit: int
    first_epoch: int
    """1-based epoch number across the run of the segment's first epoch."""
    fits: int = 1


class ModelSegments:
    """The run's segments, folded from ``fit_start`` events.

    A fit trains the same model as the fit before it when both say so with
    ``fit_start.model_index`` within one process. In logs without it (an older
    kmon, imported CSV or TensorBoard files) and across an ``--append``-ed run (a
    new process numbers its models anew; a resumed job reloads its model), it is
    the same model when its name and outputs are the same: Keras names every new
    model of a process apart (``sequential``, ``sequential_1``...), and a model
    reloaded from a checkpoint keeps its name.
    """

    def __init__(self) -> None:
        self.segments: list[ModelSegment] = []
        self._process = 0
        self._previous: tuple | None = None

    def run_started(self) -> None:
        """A ``run_start``: model numbers from here on are a new process's."""
        self._process += 1

    def fit_started(self, event: FitStart, epochs_before: int) -> tuple[ModelSegment, bool]:
        """The fit's segment, and whether it is a new one (another model)."""
        key = (self._process, event.model_index, event.model, tuple(event.outputs))
        previous, self._previous = self._previous, key
        if previous is not None and same_model(previous, key):
            segment = self.segments[-1]
            segment.fits += 1
            return segment, False
        segment = ModelSegment(len(self.segments), event.model, event.fit, epochs_before + 1)
        self.segments.append(segment)
        return segment, True


def same_model(before: tuple, after: tuple) -> bool:
    """Whether two fits' ``(process, model_index, model, outputs)`` are one model."""
    if before[0] == after[0] and before[1] is not None and after[1] is not None:
        return before[1] == after[1]
    return before[2:] == after[2:]
