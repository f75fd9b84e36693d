"""How kmon probes a fit: :class:`ProbeConfig` and the configuration a script sets
for every later ``fit()`` (:func:`set_probe_config`)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

#: Samples in the probe batch taken from array inputs.
PROBE_SIZE = 256
#: Rows of the training data the fit-start data checks look at.
DATA_ROWS = 4096


@dataclass(frozen=True)
class ProbeConfig:
    """How kmon probes a fit. The defaults keep probes to 0.2% of a long run's
    training time, after the early schedule of a model's first two epochs.

    Attributes:
        enabled: probe at all (data checks and the NaN check included).
        size: samples in the probe batch taken from array inputs.
        data_rows: rows of array inputs the fit-start data checks read.
        budget: share of training time prediction probes may take.
        gradient_budget: share of training time gradient probes may take.
        gradient_first_cost: seconds of budget that must accrue before the first
            gradient probe (its first call compiles a ``tf.function``).
        every: probe predictions every this many steps instead of by budget.
        gradient_every: probe gradients every this many steps instead of by budget.
        interval: seconds of training at least between two prediction probes.
        gradient_interval: seconds of training at least between two gradient probes.
        early_checks: prediction probes per epoch in a model's first two epochs,
            whatever the budget (up to 5% of training time; see
            :class:`~.probe_budget.ProbeBudget`).
        gradient_early_checks: the same for gradient probes.
        gradients: run gradient probes (TensorFlow, JAX and torch backends).
        stop_on_nan: stop training when the loss becomes NaN or Inf.
        variance_threshold: spread ratio under which a check counts as collapsed.
        variance_clear: spread ratio above which a check counts as recovered.
        variance_checks: consecutive collapsed checks that raise the alarm.
    """

    enabled: bool = True
    size: int = PROBE_SIZE
    data_rows: int = DATA_ROWS
    # 0.2% in all, the steps a probe slows after it included (ProbeAftermath): what
    # is left of a 1% goal for kmon's whole cost on a realistic model (a CNN's 12 ms
    # steps: the monitor and the log 0.5-0.8%) in a long run. 1.1% (0.8% and 0.3%)
    # took the CNN to 1.5-2% (docs/benchmarks.md, nineteenth round). Slower steps
    # probe less often: a CNN's prediction probe (25 ms) every ~17 s, its gradient
    # probe (~60 ms) every ~2 min. Fast steps are held by the 2 s floors below
    # instead, and the early schedule checks every model's first two epochs
    # whatever the budget: most alarms come there.
    budget: float = 0.0015
    gradient_budget: float = 0.0005
    # The first gradient probe (it compiles a tf.function) after 2.5 s of training.
    gradient_first_cost: float = 0.00125
    every: int | None = None
    gradient_every: int | None = None
    # On fast steps the budget alone would probe many times a second, and what a
    # probe costs is more than the time measured inside it: on a 1 ms/step CPU model
    # the steps after a probe run slower too (see README, Training alarms). One probe
    # of each kind every 2 s of training is what a person watching needs: an alarm
    # of 3 checks comes about 6 s after its cause (gradients: 2 checks, 4 s), and the
    # early schedule (by steps) is not held back. On a 1 ms step's fit the prediction
    # probes took 0.6% at 0.25 s and 0.2% at 1 s; both kinds with the steps after
    # them 0.26-0.44% at 1 s (docs/benchmarks.md, eighteenth round).
    interval: float = 2.0
    gradient_interval: float = 2.0
    # An alarm needs 3 checks in a row (gradients: 2), and the issue asks for each
    # by the end of a run's second epoch, on any machine: the early schedule is by
    # steps.
    early_checks: int = 4
    gradient_early_checks: int = 3
    gradients: bool = True
    stop_on_nan: bool = False
    variance_threshold: float = 0.05
    variance_clear: float = 0.1
    variance_checks: int = 3


_user_config: ProbeConfig | None = None


def set_probe_config(config: ProbeConfig | None = None, **changes: Any) -> ProbeConfig:
    """Change how kmon probes every later ``fit()`` in this process.

    ``set_probe_config(enabled=False)`` turns alarms off; ``set_probe_config(every=10)``
    probes predictions every 10 steps whatever it costs; ``set_probe_config()`` goes
    back to the defaults. Options given on the command line (``--stop-on-nan``) still
    apply. Returns the configuration now in force.
    """
    global _user_config
    base = config or ProbeConfig()
    _user_config = dataclasses.replace(base, **changes) if (config or changes) else None
    return probe_config()


def probe_config() -> ProbeConfig:
    """The configuration :func:`set_probe_config` chose, or the defaults."""
    return _user_config or ProbeConfig()
