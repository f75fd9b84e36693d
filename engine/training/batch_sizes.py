"""How many samples each batch end of a fit stands for: from the arrays' size where
``fit()`` got arrays, else from the loss tracker's count (a dataset's own batches)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from kmon.engine.training.distribute import loss_tracker_count
from kmon.engine.training.metric_kinds import FirstDispatch


class BatchSizes:
    """The samples of each Keras dispatch of one fit, as its batch ends tell them.

    The callback's batch end reads :attr:`full_steps` and the batch size itself (the
    common step, two attributes it keeps); every other step comes here.

    Args:
        samples: training samples per epoch when known (array inputs).
        batch_size: batch size when known (array inputs).
    """

    def __init__(self, samples: int | None, batch_size: int | None) -> None:
        self.samples = samples
        self.batch_size = batch_size
        self.steps_per_execution = 1
        self.last_step: int | None = None
        """The epoch's last step, where the arrays' size tells it."""
        self.full_steps = 0
        """Steps below this carry ``batch_size`` samples, one step a dispatch."""
        self._count = False
        """Read a dataset's batch sizes off the loss tracker's count."""
        self._train_thread: threading.Thread | None = None
        self._counted = 0.0

    def start(self, steps_per_execution: int, *, count: bool) -> None:
        """A fit begins on this thread. ``count``: the loss tracker counts samples
        (Keras's own ``train_step``, one worker), so a dataset's sizes can be read."""
        self.steps_per_execution = steps_per_execution
        samples, batch_size = self.samples, self.batch_size
        self.last_step = -(-samples // batch_size) - 1 if samples and batch_size else None
        whole = samples // batch_size if samples and batch_size else 0
        self.full_steps = whole if steps_per_execution == 1 else 0
        self._count = count
        self._train_thread = threading.current_thread()
        self._counted = 0.0

    def first_dispatch(self, steps: int | None) -> FirstDispatch:
        """The fit's first dispatch, as far as the arrays' size tells (``steps``: the
        epoch's, when Keras knows them)."""
        spe = self.steps_per_execution
        span = min(spe, steps) if steps else spe
        if self.samples and self.batch_size:
            return FirstDispatch(min(self.samples, span * self.batch_size), span)
        return FirstDispatch(None, span)

    def epoch_begins(self) -> None:
        """Keras resets the loss tracker at each epoch's begin: so does the count."""
        self._counted = 0.0

    def at(self, step: int, model: Callable[[], Any]) -> tuple[int, int | None]:
        """The step a batch end at ``step`` stands for, and the samples of the steps
        that end there (one dispatch). ``model`` returns the model whose loss tracker
        counts them (read only on the training thread)."""
        if self.last_step is not None and step > self.last_step:
            # A last dispatch the data's end cut short: Keras counts all its steps.
            step = self.last_step
        samples, batch_size = self.samples, self.batch_size
        if samples is not None and batch_size is not None:
            spe = self.steps_per_execution
            first = (step // spe) * spe
            return step, max(0, min(samples, (step + 1) * batch_size) - first * batch_size)
        return step, self._counted_size(model)

    def _counted_size(self, model: Callable[[], Any]) -> int | None:
        """For datasets, whose batch sizes are theirs: the loss tracker's count.

        Only on the training thread, where ``Callback.model`` syncs JAX's state and
        the count is current: called asynchronously, it may include later steps.
        """
        if not self._count or threading.current_thread() is not self._train_thread:
            return None
        count = loss_tracker_count(model())
        if count is None:
            return None
        size, self._counted = count - self._counted, count
        # A tracker that did not count this step (a train_step that never updates
        # it) tells nothing: a size of 0 would read as an empty batch.
        return int(round(size)) if size > 0 else None
