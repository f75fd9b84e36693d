"""A run's phases and what kmon says in each: the header's words, the hint before the
first ``fit()``, and the notices about a script that does not call ``fit()``.

A run goes STARTING → RUNNING_SCRIPT → (TRAINING ⇄ BETWEEN_FITS) → FINISHED, with
WAITING_FOR_THREADS before FINISHED when the script leaves threads running.
:class:`~kmon.engine.view.state.RunState` folds the events into its ``phase``; the
runner (:mod:`kmon.engine.run.runner`) gives the no-fit notice; what a stop does in
each phase is in :mod:`kmon.engine.stop`.
"""

from __future__ import annotations

import os

STARTING = "starting"
"""kmon imports TensorFlow; the script has not started yet."""
RUNNING_SCRIPT = "running script"
"""The script runs and has not called ``fit()`` yet (loading data, or a custom loop)."""
TRAINING = "training"
"""A ``fit()`` call is running."""
BETWEEN_FITS = "between fits"
"""A ``fit()`` returned; the script runs on, and may call ``fit()`` again."""
WAITING_FOR_THREADS = "waiting for the script's threads"
"""The script's code has returned; kmon waits for the threads it left running, as
Python does before a process exits (one of them may still call ``fit()``)."""
FINISHED = "finished"
"""The run ended (``run_end``)."""

#: What the header calls a phase where its name alone would not say enough.
_LABELS = {STARTING: "starting (importing TensorFlow…)"}


def phase_label(phase: str) -> str:
    """The phase as the header shows it while the run goes on."""
    return _LABELS.get(phase, phase)


# What the header says before the first fit() (no progress bar to draw yet).
NO_FIT_RAN_HINT = "no fit() ran"
"""The run ended without any ``fit()`` call."""
NO_FIT_SEEN_HINT = "no fit() seen yet: custom training loops are not monitored"
"""The no-fit notice came: the script ran a while without calling ``fit()``."""
AWAITING_FIT_HINT = "no fit() yet: progress shows once the script calls fit()"
"""RUNNING_SCRIPT, before the no-fit notice."""
AWAITING_SCRIPT_HINT = "the script starts once kmon has imported TensorFlow"
"""STARTING."""

NO_TRAINING_NOTE = "no training was seen: the script finished without calling fit()"
"""The warning at the end of a run that ended well without any ``fit()`` call."""

#: Seconds the script runs with no ``fit()`` call before kmon says what that means:
#: long enough for most scripts to load their data, short enough that a custom
#: training loop is not left looking like a stuck monitor.
NO_FIT_SECONDS = 45.0
#: Overrides NO_FIT_SECONDS (0 turns the notice off), e.g. for a script that loads
#: data for minutes before its first fit().
NO_FIT_SECONDS_VARIABLE = "KMON_NO_FIT_NOTICE_SECONDS"
#: How a custom training loop would report to kmon from the script. None: kmon has
#: no such API yet; once it has, its name here goes into the no-fit notice.
IN_SCRIPT_API: str | None = None


def no_fit_note(seconds: float) -> str:
    """What the no-fit notice says after ``seconds`` of the script running.

    It must not claim a custom loop: the script may still be loading its data."""
    text = (
        f"no fit() seen after {seconds:g} s of the script running: kmon monitors "
        "Keras's fit() calls, so a custom training loop (tf.GradientTape, "
        "train_on_batch) is not monitored and only its output shows; a script still "
        "preparing its data is monitored from its first fit() on"
    )
    if IN_SCRIPT_API:
        text += f"; to report from a custom loop, use {IN_SCRIPT_API}"
    return text


def no_fit_seconds_from(environ=None) -> float:
    """NO_FIT_SECONDS, or what ``KMON_NO_FIT_NOTICE_SECONDS`` says (a number of
    seconds; 0 or less: never). A value that is not a number is ignored."""
    value = (os.environ if environ is None else environ).get(NO_FIT_SECONDS_VARIABLE)
    if value is None:
        return NO_FIT_SECONDS
    try:
        seconds = float(value)
    except ValueError:
        return NO_FIT_SECONDS
    return seconds if seconds == seconds else NO_FIT_SECONDS  # NaN
