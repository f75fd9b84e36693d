"""``Monitor``: kmon as a Keras callback, for scripts a scheduler starts (``sbatch``,
``nohup``, cron, a notebook) rather than ``kmon train``::

    from kmon import Monitor

    model.fit(x, y, epochs=10, callbacks=[Monitor()])

The run gets the event log ``kmon train --headless`` writes (probes and alarms
included) in ``./kmon-runs``, so ``kmon ps``, ``kmon attach`` and ``kmon stop`` reach
it from another shell. It opens no UI and leaves the script's output alone. Several
``fit()`` calls (with one ``Monitor`` or several) are one run, which ends at
``close()`` or when the process exits. See docs/long-runs.md.
"""

from __future__ import annotations

from kmon.engine.run.in_script import MonitorCallback


class Monitor(MonitorCallback):
    """Monitor the ``fit()`` calls it is passed to, as ``kmon train`` would.

    Args:
        log_dir: the runs folder for the run's log (default ``./kmon-runs``).
        log_path: the log file itself (must not exist), instead of a new one.
        notify_cmd: a shell command run when the run ends and when an alarm is
            raised (``KMON_EVENT``, ``KMON_RUN_ID``, ``KMON_STATUS``,
            ``KMON_MESSAGE``, ``KMON_LOG`` set); killed after 10 s.
        probes: watch for training failures (the alarms); False turns them off.
        stop_on_nan: stop training when the loss becomes NaN or Inf.
        system_interval: seconds between samples of CPU, memory and GPUs (the
            System tab of ``kmon attach``); 0 turns sampling off.

    Raises:
        ValueError: ``notify_cmd``'s program is not found, or the log path is refused.
    """


__all__ = ["Monitor"]
