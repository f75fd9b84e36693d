"""A script whose loss overflows in its first steps, under ``kmon train``: the
``nan_loss`` alarm names the very batch whose loss Keras logged as inf (on
TensorFlow the probes read the losses off the monitor's batch tapes at their looks),
and ``--stop-on-nan`` stops training after that batch."""

from __future__ import annotations

import math


def _first_overflow(run):
    """(epoch, step) of the first batch whose logged loss is not finite."""
    for batch in run.of_type("batch"):
        if not math.isfinite(batch.logs["loss"]):
            return batch.epoch, batch.step
    raise AssertionError("the script's loss never overflowed")


def _nan_alarms(run):
    return [e for e in run.of_type("alarm") if e.kind == "nan_loss"]


def test_the_nan_loss_alarm_names_the_batch_that_overflowed(real_run):
    run = real_run("unscaled_sgd_overflows.py")
    assert run.returncode == 0
    raised, *later = _nan_alarms(run)
    assert raised.state == "raised" and (raised.epoch, raised.step) == _first_overflow(run)
    assert raised.evidence["loss"] == math.inf
    assert later and later[0].state == "cleared"  # the loss is finite again, later
    assert run.of_type("run_end")[0].status == "ok"


def test_stop_on_nan_stops_after_that_batch(real_run):
    run = real_run("unscaled_sgd_overflows.py", "--stop-on-nan")
    (raised,) = _nan_alarms(run)
    overflow = _first_overflow(run)
    assert (raised.epoch, raised.step) == overflow
    last = run.of_type("batch")[-1]
    assert (last.epoch, last.step) == overflow
    assert run.of_type("run_end")[0].status == "stopped"
