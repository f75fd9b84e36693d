"""Whether a run confirms or refutes an article's claim, from the run's own events.

A bundled scenario's claims (``kmon.scenarios.base.Claim``: plain data) name a check
here by ``check``: ``"name"`` or ``"name:arg:arg"``. Each check reads the folded
:class:`~kmon.engine.view.state.RunState` of the claim's variant and returns a
:class:`ClaimResult`: whether the claim is true on this run, and the numbers that
decided it. The claim tests (``tests/engine/test_scenario_claims*.py``) assert that
every claim's run gives its recorded verdict; the monitor's explanation (``e``) shows
the results of the claims the run it shows tested.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from kmon.engine.format import format_ratio, format_value
from kmon.engine.view.claim_evidence import (
    ClaimResult,
    class_weights_applied,
    console_differs,
    console_per_batch,
    counts,
    every_head_has_metric,
    finished,
    history_equals_evaluate,
    history_is_mean,
    last,
    logged,
    losses_equal_heads,
    narrow_batch_spread,
    outputs,
    raised,
    runs,
    stopped_early,
    total_is_weighted_sum,
    wide_batch_spread,
)
from kmon.engine.view.run_records import EpochRecord
from kmon.engine.view.state import RunState

#: A loss this far under the best constant prediction's: the model predicts more
#: than a constant (a constant cannot do better than the baseline).
_LEARNED = 0.5


def check_claim(check: str, state: RunState) -> ClaimResult:
    """Run the check named ``check`` (``"name"`` or ``"name:arg:..."``) on ``state``."""
    name, *args = check.split(":")
    function = CHECKS.get(name)
    if function is None:
        return ClaimResult(None, f"kmon has no check named {name!r}.")
    return function(state, *args)


# -- the LSTM scenario's checks --------------------------------------------------


def _against_constant(state: RunState) -> tuple[float, float, EpochRecord] | None:
    """``(loss, best constant's loss, record)`` at the last epoch."""
    record = last(state)
    if record is None:
        return None
    baseline = record.baselines.get("loss")
    loss = record.logs.get("loss")
    if baseline is None or loss is None:
        return None
    return loss, baseline, record


def _constant_text(loss: float, baseline: float, record: EpochRecord) -> str:
    if not math.isfinite(loss):
        return f"Epoch {record.number}: the loss is {loss}."
    return (
        f"Epoch {record.number}: loss {format_value(loss)}, {format_ratio(loss / baseline)} times "
        f"the best constant prediction's {format_value(baseline)}."
    )


def beats_constant(state: RunState) -> ClaimResult:
    """The model predicts more than a constant: its loss is under half the best
    constant's (``baselines``), so the predictions follow the inputs."""
    found = _against_constant(state)
    if found is None:
        return ClaimResult(None, "No epoch with a constant-prediction baseline yet.")
    loss, baseline, record = found
    text = _constant_text(loss, baseline, record)
    for kind in ("prediction_variance", "vanishing_gradients"):
        alarm = raised(state, kind)
        if alarm is not None:
            text += f" {kind} was raised in epoch {(alarm.epoch or 0) + 1}."
    return ClaimResult(math.isfinite(loss) and loss < _LEARNED * baseline, text)


def constant_predictions(state: RunState) -> ClaimResult:
    """The predictions are (near) constant: prediction_variance was raised, or the
    loss is no better than half the best constant's."""
    result = beats_constant(state)
    if result.holds is None:
        return result
    return ClaimResult(not result.holds, result.evidence)


def unscaled_and_stuck(state: RunState) -> ClaimResult:
    """unscaled_data was raised at fit start and the model did no better than a
    constant."""
    alarm = raised(state, "unscaled_data")
    stuck = constant_predictions(state)
    if stuck.holds is None:
        return stuck
    text = stuck.evidence
    if alarm is not None:
        numbers = ", ".join(
            f"{key} {format_value(value)}"
            for key, value in alarm.evidence.items()
            if isinstance(value, float)
        )
        text = f"unscaled_data at fit start ({numbers}). " + text
    return ClaimResult(alarm is not None and stuck.holds, text)


def alarm_raised(state: RunState, kind: str) -> ClaimResult:
    """kmon raised ``kind`` during the run (silent: the claim does not hold)."""
    alarm = raised(state, kind)
    if alarm is None:
        if not finished(state):
            return ClaimResult(None, f"No {kind} alarm so far.")
        return ClaimResult(False, f"No {kind} alarm in {len(state.history)} epochs.")
    numbers = ", ".join(
        f"{key} {value if isinstance(value, int) else format_value(value)}"
        for key, value in alarm.evidence.items()
        if isinstance(value, int | float) and not isinstance(value, bool)
    )
    where = f"epoch {alarm.epoch + 1}" if alarm.epoch is not None else "fit start"
    return ClaimResult(True, f"{kind} raised at {where} ({numbers}).")


def alarm_silent(state: RunState, kind: str) -> ClaimResult:
    """kmon never raised ``kind`` (raised: the claim does not hold)."""
    result = alarm_raised(state, kind)
    if result.holds is None:
        return result
    return ClaimResult(not result.holds, result.evidence)


def nan_from_start(state: RunState) -> ClaimResult:
    """NaN in the inputs: nonfinite_data at fit start and a NaN loss from the start."""
    data = raised(state, "nonfinite_data")
    nan = raised(state, "nan_loss")
    if nan is None and not finished(state):
        return ClaimResult(None, "No NaN loss so far.")
    text = "nonfinite_data at fit start" if data else "no nonfinite_data alarm"
    if data:
        text += f" ({data.evidence.get('input x NaN', '?')} NaN inputs)"
    if nan is not None:
        text += f"; nan_loss at epoch {(nan.epoch or 0) + 1}, batch {(nan.step or 0) + 1}"
    record = last(state)
    if record is not None:
        text += f"; the last epoch's loss is {format_value(record.logs.get('loss'))}"
    return ClaimResult(data is not None and nan is not None, text + ".")


CHECKS: dict[str, Callable[..., ClaimResult]] = {
    function.__name__: function
    for function in (
        runs,
        counts,
        losses_equal_heads,
        outputs,
        logged,
        every_head_has_metric,
        total_is_weighted_sum,
        console_per_batch,
        console_differs,
        history_is_mean,
        wide_batch_spread,
        narrow_batch_spread,
        history_equals_evaluate,
        stopped_early,
        class_weights_applied,
        beats_constant,
        constant_predictions,
        unscaled_and_stuck,
        alarm_raised,
        alarm_silent,
        nan_from_start,
    )
}
