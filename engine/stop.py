"""The stop request shared by the monitor and the training thread, and what a stop
does in each phase of a run (:mod:`kmon.engine.phases`), in the user's words."""

from __future__ import annotations

from collections.abc import Callable

from kmon.engine.phases import (
    BETWEEN_FITS,
    RUNNING_SCRIPT,
    STARTING,
    TRAINING,
    WAITING_FOR_THREADS,
)


class StopSignal:
    """A flag the monitor raises to ask training to stop at the next batch.

    A plain attribute, not a ``threading.Event``: the training thread only reads it,
    and reading a bool takes no lock. The fit running when it is raised is stopped
    by the request itself (:meth:`stop_fit_with`), so that its batch ends need not
    read the flag: between two TensorFlow steps a read of another object costs
    about 0.2 µs (cold caches).
    """

    def __init__(self) -> None:
        self.requested = False
        self._stop_fit: Callable[[], None] | None = None

    def request(self) -> None:
        self.requested = True
        stop_fit = self._stop_fit
        if stop_fit is not None:
            stop_fit()

    def stop_fit_with(self, stop_fit: Callable[[], None]) -> None:
        """A fit begins: a request calls ``stop_fit`` from now on, on the requesting
        thread (it sets ``model.stop_training``: Keras ends the fit after the batch
        running then), and at once if one came already. Either the request reads
        ``stop_fit`` or this reads the flag, so a request never goes unseen."""
        self._stop_fit = stop_fit
        if self.requested:
            stop_fit()

    def fit_ended(self, stop_fit: Callable[[], None]) -> None:
        """The fit ``stop_fit`` stops has ended (a later one may have begun)."""
        if self._stop_fit == stop_fit:
            self._stop_fit = None


#: What a stop request does, by what the script is doing when it comes. The stop
#: flag is raised in every case, so later ``fit()`` calls return at once.
AFTER_BATCH = "after_batch"
"""A ``fit()`` is running: it ends after the current batch (``model.stop_training``)."""
LATER_FITS = "later_fits"
"""Between fits: nothing is interrupted, the script runs on to its end."""
INTERRUPT = "interrupt"
"""No ``fit()`` yet (a custom loop, or data loading): the script gets a
``KeyboardInterrupt``, as Ctrl+C gives it under plain python."""
BEFORE_START = "before_start"
"""kmon is still importing TensorFlow: the script will not run."""
CUT_THREADS = "cut_threads"
"""The script's code has returned and kmon waits for the threads it left running:
kmon stops waiting, and they are given up (:mod:`kmon.engine.run.script_threads`)."""

#: Each stop's effect, for the user (the monitor's Quit dialog, headless lines).
STOP_EFFECTS = {
    AFTER_BATCH: (
        "training stops after the current batch (model.stop_training) and later fit() "
        "calls return at once"
    ),
    LATER_FITS: (
        "no fit() is running, so nothing is interrupted: later fit() calls return at "
        "once and the script runs on to its end"
    ),
    INTERRUPT: (
        "no fit() has run yet, so there is no batch to stop after: the script is "
        "interrupted (KeyboardInterrupt raised in it, as Ctrl+C does under plain python, "
        "at its next Python line: a call in progress, such as time.sleep, finishes first)"
    ),
    BEFORE_START: "the script has not started yet (kmon is importing TensorFlow): it will not run",
    CUT_THREADS: (
        "the script's code has returned and kmon waits for the threads it left running, as "
        "Python does before it exits: kmon stops waiting and gives them up, as Ctrl+C then "
        "does under plain python (what they have not written yet is lost)"
    ),
}

#: What a stop would do in each phase of :class:`~kmon.engine.view.state.RunState`.
_ACTION_BY_PHASE = {
    STARTING: BEFORE_START,
    RUNNING_SCRIPT: INTERRUPT,
    TRAINING: AFTER_BATCH,
    BETWEEN_FITS: LATER_FITS,
    WAITING_FOR_THREADS: CUT_THREADS,
}


def stop_action_for(phase: str) -> str:
    """What a stop does when a run's state is in ``phase`` (the engine decides for
    itself when the request arrives; this is what a monitor can tell beforehand)."""
    return _ACTION_BY_PHASE.get(phase, AFTER_BATCH)


def stopping_line(action: str | None) -> str:
    """The headless line for a stop just asked for, by what it does (``action``;
    None, no action recorded yet, reads as a stop in a fit)."""
    if action is None or action == AFTER_BATCH:
        return "stopping after this batch"
    return f"stopping: {STOP_EFFECTS[action]}"
