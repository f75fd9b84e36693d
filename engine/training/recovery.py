"""Recovers each batch's own values from Keras's running means.

Keras passes ``on_train_batch_end`` the running mean over the epoch so far, weighted
by samples. With ``S_k`` samples seen after batch ``k`` and ``n_k`` in the batch, the
batch's own value is ``v_k = (S_k * m_k - S_{k-1} * m_{k-1}) / n_k``. For RMSE the
same holds for the squares; for means where each step counts once (per-head losses
under TensorFlow's traced step), ``S`` counts steps instead of samples. The running means arrive as float32, so the recovered
value carries an absolute error of about ``k * m * 6e-8``: far below 1e-4 relative for
epochs of a few hundred steps, and it grows with the number of steps in the epoch.
A value is kept only where that error (bounded by :data:`TOTALS_ERROR` of the
totals) is at most :data:`VOUCHED` of it: after a loss that dwarfs the later ones,
the float32 totals no longer hold them, and a value is then the bound of its range
it cannot be told from (0 for a loss, to the totals' precision), or None (not
recoverable). After a running mean that is inf or NaN, nothing is recoverable until
the epoch's end.

A guard checks every recovered value against the range its loss or metric allows
(:mod:`.value_bounds`: a mean squared error is never negative, an accuracy lies in
[0, 1]), with a margin for that float32 error. A value outside it proves the
running mean is not weighted the way kmon read it: that key is not recovered for
the rest of the fit, and the dispatch says so (:attr:`Recovered.broken`). A
running mean outside the range means the range does not hold for this data (a
crossentropy on labels outside [0, 1]): the key is then recovered unguarded.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from kmon.engine.events import MEAN, ROOT_MEAN_SQUARE, STEP_MEAN
from kmon.engine.training.metric_kinds import KeyKind

#: Why a logged key that no tracker of the model is named after is not recovered.
UNTRACKED = "no tracker of the model has this name (the train_step returns it from elsewhere)"

#: Margin of the guard, relative to the running totals the value is the
#: difference of (float32 rounds each to 6e-8; a few roundings add up).
GUARD_SLACK = 1e-6

#: Error of a recovered value, relative to the sum of the running totals it is the
#: difference of: the float32 addition that made the later total and the two
#: divisions that made the means each round by at most half an ulp, 6e-8 of a total
#: (9e-8 of the sum at worst; measured errors are a few times smaller).
TOTALS_ERROR = 1e-7

#: A recovered value is shown only if its error is at most this share of it...
VOUCHED = 0.1


@dataclass(frozen=True, slots=True)
class BrokenKey:
    """A key whose recovered value left its range: not recovered from then on.

    Attributes:
        key: the log key.
        value: the value recovered (left out of the batch event).
        kind: how it was being recovered (``"mean"``, ``"step_mean"``...).
        low: the least value it may take.
        high: the greatest.
    """

    key: str
    value: float
    kind: str
    low: float
    high: float


@dataclass(slots=True)
class Recovered:
    """One dispatch, ready to emit: its steps, size and recovered values."""

    step: int
    span: int
    size: int | None
    logs: dict[str, float]
    values: dict[str, float | None] | None
    kinds: dict[str, KeyKind] | None = None
    """Set on the first dispatch of a fit: how each key was classified."""
    broken: list[BrokenKey] | None = None
    """Keys whose value left its range at this dispatch (see :class:`BrokenKey`)."""


@dataclass(slots=True)
class TapeValues:
    """A tape's recovered values by columns (:meth:`BatchValueRecovery.add_tape`)."""

    columns: dict[str, list[float | None]]
    """Each key's values, one a dispatch (None where not recoverable)."""
    broken: list[tuple[int, BrokenKey]]
    """Keys whose value left its range, with the dispatch's place in the tape."""


class BatchValueRecovery:
    """Turns an epoch's stream of running means into per-batch values.

    Calls may come from several threads and out of order (Keras dispatches batch
    hooks asynchronously on thread-safe backends). Entries wait in a dict until
    their predecessor is done; whichever thread pops the next expected step
    processes it. ``dict.pop`` is atomic, and the expected step is advanced only
    after the running totals, so no lock is needed.

    Args:
        resolve_kinds: returns how each log key can be recovered (see
            :mod:`.metric_kinds`), or None when it cannot tell from the calling
            thread; dispatches then wait, in order, until a later call (``add`` or
            :meth:`ready`) resolves them. Called until it answers, from the first
            dispatch on: Keras builds compiled metrics lazily, on the first step.
        steps_per_execution: Keras reports once per this many steps.
    """

    def __init__(
        self,
        resolve_kinds: Callable[[], dict[str, KeyKind] | None],
        steps_per_execution: int = 1,
    ) -> None:
        self._resolve_kinds = resolve_kinds
        self.kinds: dict[str, KeyKind] | None = None
        self._announced = False
        self.spe = max(int(steps_per_execution), 1)
        self._pending: dict[int, tuple[int, int | None, dict[str, float]]] = {}
        self._next_first = 0
        self._samples = 0
        self._steps = 0
        self._sizes_known = True
        self._previous: dict[str, float] = {}

    def reset(self) -> None:
        """Start of an epoch: running means restart from zero."""
        self._pending = {}
        self._samples = 0
        self._steps = 0
        self._sizes_known = True
        self._previous = {}
        self._next_first = 0

    def add(self, step: int, size: int | None, logs: dict[str, float]) -> list[Recovered]:
        """Record the dispatch ending at ``step``; return every dispatch now ready, in order."""
        first = (step // self.spe) * self.spe
        if first == self._next_first and self.kinds is not None and self._announced:
            # In order, the usual case (always, where hooks run on the training
            # thread): recovered at once, without waiting in the dict. The next
            # expected step advances first, so a later dispatch another thread
            # put meanwhile is taken by it or by the ready() below.
            recovered = self._values(step, step - first + 1, size, logs)
            self._next_first = step + 1
            return [recovered, *self.ready()] if self._pending else [recovered]
        self._pending[first] = (step, size, logs)
        return self.ready()

    @property
    def _step_keys(self) -> bool:
        """Some key is a mean over steps (recoverable without batch sizes)."""
        return any(kind.kind == STEP_MEAN for kind in self.kinds.values())

    def ready(self) -> list[Recovered]:
        """Every waiting dispatch that can be recovered now, in order."""
        ready: list[Recovered] = []
        while True:
            if self.kinds is None:
                kinds = self._resolve_kinds()
                if kinds is None:
                    return ready
                # A copy: the guard turns keys unrecoverable in it.
                self.kinds = dict(kinds)
            entry = self._pending.pop(self._next_first, None)
            if entry is None:
                return ready
            last, size, logs = entry
            ready.append(self._recover(self._next_first, last, size, logs))
            self._next_first = last + 1

    def _recover(self, first: int, last: int, size: int | None, logs) -> Recovered:
        span = last - first + 1
        recovered = self._values(last, span, size, logs)
        if not self._announced:
            # Only the thread that popped this fit's first dispatch gets here.
            self._announced = True
            for key in logs:
                # A custom train_step may return anything under any name.
                self.kinds.setdefault(key, KeyKind(None, UNTRACKED))
            recovered.kinds = dict(self.kinds)
        return recovered

    def _values(self, last: int, span: int, size: int | None, logs) -> Recovered:
        if size is None or size <= 0 or not self._sizes_known:
            # Means over samples need each batch's size from now on; means over
            # steps (a custom train_step's trackers, a GAN's d_loss) never do.
            self._sizes_known = False
            if not self._step_keys:
                return Recovered(last, span, size, logs, None)
        sized = self._sizes_known
        before, after = (self._samples, self._samples + size) if sized else (0, 0)
        steps_before, steps_after = self._steps, self._steps + span
        previous = self._previous
        kinds = self.kinds
        values: dict[str, float | None] = {}
        broken = None
        for key, mean in logs.items():
            kind = kinds.get(key)
            code = kind.kind if kind is not None else None
            old = previous.get(key)
            if old is None:
                if code is None or steps_before:
                    values[key] = None
                    continue
                old = 0.0
            elif code is None or old - old != 0.0:
                values[key] = None  # after an inf or NaN running mean: unknowable
                continue
            # Means over samples first: nearly every key is one.
            if code == MEAN and sized:
                total, total_before, count = after * mean, before * old, size
            elif code == STEP_MEAN:
                total, total_before, count = steps_after * mean, steps_before * old, span
            elif sized and code == ROOT_MEAN_SQUARE:
                total, total_before, count = after * mean * mean, before * old * old, size
            else:
                values[key] = None
                continue
            value = (total - total_before) / count
            # The running totals the value is the difference of, a batch's worth:
            # the guard's margin and the value's error are shares of them.
            scale = (abs(total) + abs(total_before)) / count
            # One comparison for most values (unbounded keys: the infinities).
            if not kind.low <= value <= kind.high and self._broken(key, kind, value, scale, mean):
                broken = broken or []
                broken.append(self._break(key, kind, value))
                values[key] = None
                continue
            values[key] = _vouched(value, scale, kind)
        self._samples, self._steps = after, steps_after
        self._previous = logs
        if not sized and all(value is None for value in values.values()):
            values = None
        return Recovered(last, span, size, logs, values, broken=broken)

    def add_tape(self, entries: list, keys: tuple[str, ...]) -> TapeValues | None:
        """Recover a tape's dispatches (``(step, size, logs, time)``, TensorFlow's: in
        order, each logging ``keys``) by columns: each key's values as a list, to
        the values :meth:`add` would give one by one, with no dispatch object or
        dict a batch. None, with nothing changed, where a dispatch needs the one by
        one way: out of order or waiting, without a size, other keys."""
        if self.kinds is None or not self._announced or self._pending or not self._sizes_known:
            return None
        spe, expected = self.spe, self._next_first
        samples, steps = [self._samples], [self._steps]
        for step, size, logs, _ in entries:
            first = (step // spe) * spe
            if first != expected or not size or size < 0 or type(logs) is not dict:
                return None
            if tuple(logs) != keys:
                return None
            expected = step + 1
            samples.append(samples[-1] + size)
            steps.append(steps[-1] + step - first + 1)
        columns, broken = {}, []
        for key in keys:
            means = [logs[key] for _, _, logs, _ in entries]
            columns[key] = self._column(key, means, samples, steps, broken)
        broken.sort(key=lambda found: found[0])  # stable: keys in the logs' order
        self._samples, self._steps = samples[-1], steps[-1]
        self._previous = entries[-1][2]
        self._next_first = expected
        return TapeValues(columns, broken)

    def _column(
        self, key: str, means: list, samples: list, steps: list, broken: list
    ) -> list[float | None]:
        """One key's values over a tape, as :meth:`_values` gives each (the same
        arithmetic in the same order); each break as ``(index, BrokenKey)``."""
        kinds = self.kinds
        # The key's kind changes only where a value leaves its range (a break, or
        # the key found unguarded): read again there, not at every batch.
        kind = kinds.get(key)
        code, low, high = (kind.kind, kind.low, kind.high) if kind is not None else (None, 0, 0)
        old = self._previous.get(key)
        column: list[float | None] = []
        append = column.append
        for index, mean in enumerate(means):
            previous, old = old, mean
            if previous is None:
                if code is None or steps[index]:
                    append(None)
                    continue
                previous = 0.0
            elif code is None or previous - previous != 0.0:
                append(None)  # after an inf or NaN running mean: unknowable
                continue
            if code == MEAN:
                after = samples[index + 1]
                before = samples[index]
                total, total_before, count = after * mean, before * previous, after - before
            elif code == STEP_MEAN:
                steps_before, steps_after = steps[index], steps[index + 1]
                total, total_before = steps_after * mean, steps_before * previous
                count = steps_after - steps_before
            elif code == ROOT_MEAN_SQUARE:
                before, after = samples[index], samples[index + 1]
                total, total_before = after * mean * mean, before * previous * previous
                count = after - before
            else:
                append(None)
                continue
            value = (total - total_before) / count
            scale = (abs(total) + abs(total_before)) / count
            if not low <= value <= high:
                if self._broken(key, kind, value, scale, mean):
                    broken.append((index, self._break(key, kind, value)))
                    value = None
                else:
                    value = _vouched(value, scale, kind)
                kind = kinds.get(key)
                code, low, high = (kind.kind, kind.low, kind.high) if kind else (None, 0, 0)
                append(value)
                continue
            # _vouched, inlined: a call a value cost a tape's column more than the rest.
            error = TOTALS_ERROR * scale
            if error > VOUCHED * abs(value):
                value = _within(value, error, kind)
            if code == ROOT_MEAN_SQUARE and value is not None:
                value = math.sqrt(value) if value > 0 else 0.0
            append(value)
        return column

    def _broken(self, key: str, kind: KeyKind, value: float, scale: float, mean: float) -> bool:
        """Whether ``value``, outside its range, is proof of a wrong recovery: not
        NaN or infinite (a diverging loss is shown as it is), beyond float32
        precision (``scale``: the running totals it is the difference of), and of
        a key whose range holds for this data: its running mean, a mean of its
        values, lies in it. If not, the key goes on unguarded."""
        if not math.isfinite(value):
            return False
        slack = GUARD_SLACK * scale + 1e-12
        if kind.low - slack <= value <= kind.high + slack:
            return False
        margin = GUARD_SLACK * max(abs(mean), 1.0)
        if kind.low - margin <= mean <= kind.high + margin:
            return True
        self.kinds[key] = KeyKind(kind.kind, kind.reason)
        return False

    def _break(self, key: str, kind: KeyKind, value: float) -> BrokenKey:
        """Not recovered for the rest of the fit: its running mean is not weighted
        as it was classified."""
        if kind.kind == ROOT_MEAN_SQUARE:
            value = -math.sqrt(-value) if value < 0 else math.sqrt(value)
        self.kinds[key] = KeyKind(
            None, f"a recovered value ({value:.6g}) left its range [{kind.low:g}, {kind.high:g}]"
        )
        return BrokenKey(key, value, kind.kind, kind.low, kind.high)


def _vouched(value: float, scale: float, kind: KeyKind) -> float | None:
    """``value``, recovered from running totals of ``scale``, as it is shown: to
    their precision (see :func:`_within`), an RMSE's root taken."""
    error = TOTALS_ERROR * scale
    if error > VOUCHED * abs(value):
        value = _within(value, error, kind)
    if kind.kind == ROOT_MEAN_SQUARE and value is not None:
        value = math.sqrt(value) if value > 0 else 0.0
    return value


def _within(value: float, error: float, kind: KeyKind) -> float | None:
    """A value the running totals give only to ``error``, more than :data:`VOUCHED` of
    it: the bound of the key's range it is within that error of (a batch's loss or
    accuracy of 0, to the totals' precision), else None: not recoverable (after a
    loss that dwarfs it, the float32 totals no longer hold it)."""
    for bound in (kind.low, kind.high):
        if abs(value - bound) <= error:
            return bound
    return None
