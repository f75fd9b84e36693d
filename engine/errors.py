"""The errors a run can end with before or instead of training, shared by the runner,
the fit hook and the command line (which prints them as one line, never a traceback)."""

from __future__ import annotations


class ScriptError(Exception):
    """The script cannot be run at all; the message is one line for the user."""


class RefusedRun(Exception):
    """kmon cannot monitor what the script does (e.g. legacy tf.keras): the run ends
    as failed with exit code 2 and this one-line message, without a traceback."""
