"""What the epoch chart's controls compute, without drawing: where each epoch goes
on the x axis (epoch, step, wall time or time since the run started), the axis'
tick labels, the smoothing steps, and the cursor's reading of one epoch.

Positions come only from the run's own events: an axis whose data the log lacks
(an older kmon's log, a CSVLogger import with no timings) is refused with the
reason, never made up.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence

from kmon.engine.format import format_duration, format_value
from kmon.engine.view.run_records import EpochRecord

#: The chart's x axes, in the order the key cycles through them.
X_MODES = ("epoch", "step", "wall time", "time since start")
#: Smoothing weights ``[`` and ``]`` step through, as TensorBoard's slider: the
#: weight of the past in the bias-corrected EMA (0: the values as logged).
SMOOTHING_STEPS = (0.0, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99)
#: About how many ticks an axis of steps or times gets.
TICKS = 6


def x_positions(
    history: Sequence[EpochRecord], mode: str, started: float | None
) -> tuple[list[float] | None, str]:
    """Each epoch's x in ``mode``, or None and why the run's events lack it.

    ``step`` is the count of batches trained by the end of the epoch, over the
    whole run; ``wall time`` is when the epoch ended (its ``epoch_end``'s time);
    ``time since start`` is that minus the run's start.
    """
    if mode == "epoch":
        return [float(record.number) for record in history], ""
    if mode == "step":
        if history and not any(record.steps for record in history):
            return None, "no batches in this log"
        total, xs = 0, []
        for record in history:
            total += record.steps
            xs.append(float(total))
        return xs, ""
    ends = [record.ended for record in history]
    if any(end is None for end in ends):
        return None, "no epoch end times in this log"
    if len(ends) > 1 and len(set(ends)) == 1:
        # An import writes one time on every event (a CSVLogger file has none).
        return None, "no epoch timings in this log"
    if mode == "wall time":
        return [float(end) for end in ends], ""
    if started is None:
        return None, "no run start in this log"
    return [end - started for end in ends], ""


def x_ticks(xs: Sequence[float], mode: str) -> tuple[list[float], list[str]]:
    """Tick positions and labels for the x axis (plotext's own fall between epochs
    and print seconds since 1970)."""
    if not xs:
        return [], []
    if mode == "epoch":
        numbers = [int(x) for x in xs]
        step = max(math.ceil(len(numbers) / 10), 1)
        picked = numbers[::step]
        return [float(n) for n in picked], [str(n) for n in picked]
    ticks = nice_ticks(min(xs), max(xs))
    if mode == "step":
        return ticks, [f"{int(tick):,}" for tick in ticks]
    spacing = ticks[1] - ticks[0] if len(ticks) > 1 else 1.0
    if mode == "wall time":
        return ticks, [_clock(tick, spacing) for tick in ticks]
    if max(xs) < 120:
        return ticks, [f"{tick:.{_decimals(spacing)}f}s" for tick in ticks]
    return ticks, [format_duration(tick) for tick in ticks]


def _decimals(spacing: float) -> int:
    """Digits after the point that tell ticks ``spacing`` apart."""
    return max(0, -math.floor(math.log10(spacing))) if spacing > 0 else 0


def _clock(t: float, spacing: float) -> str:
    """Local time of day, to the minute, the second or below as ``spacing`` needs."""
    if spacing >= 60:
        return time.strftime("%H:%M", time.localtime(t))
    digits = _decimals(spacing)
    t = round(t, digits)
    text = time.strftime("%H:%M:%S", time.localtime(t))
    return text + f"{t % 1:.{digits}f}"[1:] if digits else text


def nice_ticks(low: float, high: float, count: int = TICKS) -> list[float]:
    """About ``count`` round values (1, 2 or 5 times a power of ten apart) from
    ``low`` to ``high``."""
    if not high > low:
        return [low]
    raw = (high - low) / max(count - 1, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    # Multiples of the step, rounded to its digits (a running sum drifts: 3.4000000000000004).
    digits = max(0, -math.floor(math.log10(step)))
    first, last = math.ceil(low / step - 1e-9), math.floor(high / step + 1e-9)
    ticks = [round(k * step, digits) for k in range(first, last + 1)]
    return ticks or [low]


def nearest_epoch(xs: Sequence[float], x: float) -> int:
    """The index of the epoch whose position is nearest ``x``."""
    return min(range(len(xs)), key=lambda index: abs(xs[index] - x))


def cursor_reading(
    record: EpochRecord,
    mode: str,
    x: float | None,
    shown: Callable[[str], bool] = lambda key: True,
) -> str:
    """``epoch 7 · loss 0.412 · val_loss 0.455 · accuracy 0.83``: every value the
    epoch logged (those ``shown`` keeps), as History recorded them, never smoothed.
    The epoch's position on another axis follows its number."""
    where = f"epoch {record.number}"
    if x is not None and mode == "step":
        where += f" (step {int(x):,})"
    elif x is not None and mode == "wall time":
        where += f" ({time.strftime('%H:%M:%S', time.localtime(x))})"
    elif x is not None and mode == "time since start":
        where += f" ({x:.1f}s in)" if x < 120 else f" ({format_duration(x)} in)"
    parts = [where]
    parts += [f"{key} {format_value(value)}" for key, value in record.logs.items() if shown(key)]
    if record.train_eval and "loss" in record.train_eval and shown("loss"):
        parts.append(f"evaluate() on train {format_value(record.train_eval['loss'])}")
    return " · ".join(parts)
