"""The public probe API: choose the probe batch or change the probes from a script.

Example::

    from kmon.engine.probes import set_probe_batch, set_probe_config

    set_probe_batch(x_val[:256], y_val[:256])   # used by every later fit()
    set_probe_config(budget=0.05)               # probe more often

The probes themselves live in :mod:`kmon.engine.alarms`; these names stay here so
that scripts, README examples and tests written against them keep working.
"""

from kmon.engine.alarms.gradients import gradient_norms
from kmon.engine.alarms.predictions import predict
from kmon.engine.alarms.probe_batch import (
    FitData,
    ProbeBatch,
    clear_probe_batch,
    set_probe_batch,
    user_probe_batch,
)
from kmon.engine.alarms.probe_budget import ProbeAftermath, ProbeBudget
from kmon.engine.alarms.probe_config import ProbeConfig, probe_config, set_probe_config
from kmon.engine.alarms.probe_heads import Head
from kmon.engine.alarms.spread import spread

__all__ = [
    "FitData",
    "Head",
    "ProbeAftermath",
    "ProbeBatch",
    "ProbeBudget",
    "ProbeConfig",
    "clear_probe_batch",
    "gradient_norms",
    "predict",
    "probe_config",
    "set_probe_batch",
    "set_probe_config",
    "spread",
    "user_probe_batch",
]
