"""The training-overhead benchmark's figures: per-round values, their median and a
95% bootstrap interval over rounds, and the table of figures against goals.

A round gives every configuration one timed fit (see ``training_overhead.py``), so
a wall-clock figure is a per-round ratio (a configuration's fit over the plain
fit of the same round) and a CPU figure is a per-round value (µs a step). Rounds
are resampled with replacement (``BOOTSTRAP`` times, a fixed seed) and the median
taken each time; the 2.5th and 97.5th percentiles of those medians are the
interval. A goal counts as met only when the whole interval is under it.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field

from _common import median, percentile

BOOTSTRAP = 4000
CONFIDENCE = 0.95
#: kmon's CPU a training step: its callback on the training thread (probes apart,
#: which get a share of training time), and all its other threads together, live
#: at about 1,000 steps a second.
CALLBACK_GOAL_US = 5.0
PROBE_BUDGET_PERCENT = 1.1
OTHER_THREADS_GOAL_US = 15.0
FAST_STEP_SECONDS = 0.004
#: The meter's hook counters (``callback.<hook>``, ``alarms.<hook>``), and the batch hooks.
HOOKS = frozenset({"callback", "alarms"})
BATCH_HOOKS = frozenset({"on_train_batch_begin", "on_train_batch_end"})
#: Roles of a process's threads that are not kmon's (see _kmon_meter.role_of).
NOT_KMON = frozenset({"training", "native"})


def interval(values: Sequence[float], *, seed: int = 0) -> tuple[float, float]:
    """The 95% bootstrap interval of the median of ``values`` (resampled rounds)."""
    if not values:
        return float("nan"), float("nan")
    if len(values) == 1:
        return values[0], values[0]
    rng = random.Random(seed)
    count = len(values)
    return _central(
        [median([values[rng.randrange(count)] for _ in range(count)]) for _ in range(BOOTSTRAP)]
    )


def _central(resampled: list[float]) -> tuple[float, float]:
    """The bounds of the central ``CONFIDENCE`` of ``BOOTSTRAP`` resampled figures."""
    resampled = sorted(resampled)
    tail = (1 - CONFIDENCE) / 2
    low, high = int(tail * (BOOTSTRAP - 1)), int(round((1 - tail) * (BOOTSTRAP - 1)))
    return resampled[low], resampled[high]


@dataclass
class Figure:
    """One row: a name, its per-round values, and an optional goal (an upper bound)."""

    name: str
    values: list[float]
    goal: float | None = None
    unit: str = ""
    """"" for a ratio, "µs" for CPU a step, "%" for a share of fit time."""
    note: str = ""

    @property
    def median(self) -> float:
        return median(self.values)

    @property
    def interval(self) -> tuple[float, float]:
        return interval(self.values)

    @property
    def verdict(self) -> str:
        """``met`` when the interval's upper end is under the goal; ``not met``
        otherwise (a median under it is not enough); ``""`` without a goal."""
        if self.goal is None:
            return ""
        return "met" if self.interval[1] <= self.goal else "not met"

    def text(self, value: float) -> str:
        if value != value:  # NaN
            return "-"
        if self.unit == "µs":
            return f"{value:.1f}"
        if self.unit == "%":
            return f"{value:.2f}%"
        return f"{value:.3f}"


@dataclass
class ShareFigure(Figure):
    """A share of the whole run, in %: its parts' sum over its wholes' sum across the
    rounds (``values`` holds each round's own share, for the record). A share that
    comes in bursts, as the probes on slow steps do (a 30 ms probe in one 2 s fit of
    two), is over the rounds what it is over a long run; the median of the rounds'
    own shares is not (it read 2.2% for probes within their 1.1% budget)."""

    parts: list[float] = field(default_factory=list)
    wholes: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return 100 * sum(self.parts) / sum(self.wholes) if self.wholes else float("nan")

    @property
    def interval(self) -> tuple[float, float]:
        """The 95% bootstrap interval of the share, the rounds resampled."""
        count = len(self.wholes)
        if count < 2:
            return self.median, self.median
        rng = random.Random(0)
        shares = []
        for _ in range(BOOTSTRAP):
            picks = [rng.randrange(count) for _ in range(count)]
            whole = sum(self.wholes[i] for i in picks)
            shares.append(100 * sum(self.parts[i] for i in picks) / whole if whole else 0.0)
        return _central(shares)


def table(figures: list[Figure]) -> str:
    """The figures as one aligned table: figure, goal, median, interval, met."""
    rows = [("figure", "goal", "median", "95% interval", "met")]
    for figure in figures:
        low, high = figure.interval
        goal = "" if figure.goal is None else f"<= {figure.text(figure.goal)}"
        unit = f" {figure.unit}" if figure.unit == "µs" else ""
        rows.append(
            (
                figure.name,
                goal + (unit if goal else ""),
                figure.text(figure.median) + unit,
                f"[{figure.text(low)}, {figure.text(high)}]",
                figure.verdict,
            )
        )
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    lines = []
    for index, row in enumerate(rows):
        cells = [cell.ljust(width) for cell, width in zip(row, widths)]
        lines.append(" | ".join(cells).rstrip())
        if index == 0:
            lines.append("-+-".join("-" * width for width in widths))
    notes = [f"  {figure.name}: {figure.note}" for figure in figures if figure.note]
    return "\n".join(lines + (["notes:"] + notes if notes else []))


def ratio_line(figure: Figure) -> str:
    """``ratio NAME: 1.012 [0.998, 1.030] (goal <= 1.03: met)``, as the smoke test
    and the other benchmarks print a figure."""
    low, high = figure.interval
    goal = f" (goal <= {figure.goal:g}: {figure.verdict})" if figure.goal is not None else ""
    return (
        f"ratio {figure.name}: {figure.median:.3f} [{low:.3f}, {high:.3f}]{goal}"
        + (f"  {figure.note}" if figure.note else "")
    )


# -- the figures of a run --------------------------------------------------------------


def wall_figures(
    rounds: list[dict[str, dict]], goals: dict[str, float], descriptions: dict[str, str]
) -> list[Figure]:
    """Each configuration's fit time over plain's in the same round; the process's
    CPU time and the lower quartile of epochs over plain's in its note."""
    rows = []
    for name in rounds[0]:
        if name in ("plain", "meter"):
            continue
        ratios = [r[name]["seconds"] / r["plain"]["seconds"] for r in rounds]
        cpu = [r[name]["cpu"] / r["plain"]["cpu"] for r in rounds]
        epochs = [e for r in rounds for e in r[name]["epochs"]]
        base = [e for r in rounds for e in r["plain"]["epochs"]]
        quartile = percentile(epochs, 0.25) / percentile(base, 0.25)
        low, high = interval(cpu)
        note = (
            f"{descriptions[name]}; process CPU time {median(cpu):.3f} [{low:.3f}, "
            f"{high:.3f}]; lower quartile of epochs {quartile:.3f}"
        )
        rows.append(Figure(name, ratios, goals.get(name), note=note))
    return rows


def steps_figures(
    rounds: list[dict[str, dict]], goals: dict[str, float], descriptions: dict[str, str]
) -> list[Figure]:
    """Each configuration's steps (every epoch from its first batch to its last,
    ``_mlp_workload.EpochTimer``, which says what they leave out) over plain's in
    the same round. Its note gives the median time a fit spent outside its steps,
    against plain's."""
    rows = []
    if "steps_seconds" not in rounds[0]["plain"]:
        return rows  # results of an older workload script
    outside_plain = median([_outside(r["plain"]) for r in rounds])
    for name in rounds[0]:
        if name in ("plain", "meter"):
            continue
        ratios = [sum(r[name]["steps_seconds"]) / sum(r["plain"]["steps_seconds"]) for r in rounds]
        outside = [_outside(r[name]) for r in rounds]
        note = (
            f"{descriptions[name]}, the steps alone; a fit outside its steps "
            f"{median(outside) * 1e3:.0f} ms (most {max(outside) * 1e3:.0f}), plain "
            f"{outside_plain * 1e3:.0f} ms"
        )
        rows.append(Figure(f"{name}, steps", ratios, goals.get(name), note=note))
    return rows


def _outside(fit: dict) -> float:
    """Seconds of ``fit`` outside its epochs' steps."""
    return fit["seconds"] - sum(fit["steps_seconds"])


def per_step_us(fit: dict, roles) -> float:
    """CPU µs a training step the threads of ``roles`` used during ``fit``."""
    return sum(fit["threads"].get(role, 0) for role in roles) / fit["steps"] / 1000


def _kmon_roles(fit: dict) -> list[str]:
    return [role for role in fit["threads"] if role not in NOT_KMON]


def meter_figures(rounds: list[dict[str, dict]], timer_ns: int) -> list[Figure]:
    """From ``meter``: kmon's hooks on the training thread, the probes' share of
    the fit, and the fold."""
    batch, pool, callback, probes, fold = [], [], [], [], []
    for r in rounds:
        fit = r["meter"]
        timed, steps = fit["timed"], fit["steps"]
        probe_calls, probe_ns = timed.get("probes", (0, 0))
        # The probes' calls, and their timers' own cost, are inside the alarms' hooks.
        probe_ns += probe_calls * timer_ns
        hooks = _training_thread_hooks_ns(timed)
        batch_ns = sum(
            ns for name, (_, ns) in timed.items() if name.split(".")[-1] in BATCH_HOOKS
        )
        pool_ns = sum(ns for name, (_, ns) in timed.items() if name.endswith("@pool"))
        callback.append((hooks - probe_ns) / steps / 1000)
        batch.append((batch_ns - probe_ns) / steps / 1000)
        pool.append(pool_ns / steps / 1000)
        probes.append(fit["probes"]["calls"] + fit["probes"]["after"])
        fold.append(timed.get("fold", (0, 0))[1] / steps / 1000)
    return [
        Figure(
            "training thread: kmon's batch hooks, probes apart (meter)",
            batch,
            CALLBACK_GOAL_US,
            "µs",
        ),
        Figure("training thread: all kmon's hooks, fit and epoch ones amortized", callback, unit="µs"),
        Figure(
            "Keras's pool threads: kmon's batch ends there (torch, JAX; meter)", pool, unit="µs"
        ),
        ShareFigure(
            "training thread: probe calls + steps after them, % of the fits (meter)",
            [100 * part / r["meter"]["seconds"] for part, r in zip(probes, rounds)],
            PROBE_BUDGET_PERCENT,
            "%",
            parts=probes,
            wholes=[r["meter"]["seconds"] for r in rounds],
        ),
        Figure("fold (RunState.apply) on the UI thread, live (meter)", fold, unit="µs"),
    ]


def _training_thread_hooks_ns(timed: dict) -> int:
    """The meter's CPU ns in kmon's hooks on the training thread: batch ends on
    Keras's pool threads (``@pool``) are among the process's other threads."""
    return sum(
        ns
        for name, (_, ns) in timed.items()
        if name.split(".")[0] in HOOKS and not name.endswith("@pool")
    )


def _hooks_us(fit: dict, timer_ns: int) -> float:
    """The meter's µs a step on the training thread in every kmon hook, fit and
    epoch ones amortized, the probes' calls apart."""
    timed, steps = fit["timed"], fit["steps"]
    probe_calls, probe_ns = timed.get("probes", (0, 0))
    probe_ns += probe_calls * timer_ns
    return (_training_thread_hooks_ns(timed) - probe_ns) / steps / 1000


def probes_us(rounds: list[dict[str, dict]]) -> float:
    """The probes' µs a step over all the meter's fits: their calls in wall time
    (they run TensorFlow, whose threads the CPU of one thread misses) and the steps
    after them as charged (``ProbeBudget.after``). Over the run, not a round: on
    slow steps a probe comes every few fits (see :class:`ShareFigure`)."""
    fits = [r["meter"] for r in rounds]
    wall = sum(fit["probes"]["calls"] + fit["probes"]["after"] for fit in fits)
    return wall * 1e6 / sum(fit["steps"] for fit in fits)


def _extra_switches(r: dict[str, dict], name: str) -> float:
    """The training thread's context switches a step under ``name`` over plain's."""
    return r[name]["switches"] / r[name]["steps"] - r["plain"]["switches"] / r["plain"]["steps"]


def bound_figures(
    rounds: list[dict[str, dict]], goals: dict[str, float], timer_ns: int, wake_us: float = 0.0
) -> list[Figure]:
    """kmon's cost to training in CPU time, which resolves where wall time cannot.

    Per round: the meter's hooks on the training thread, the probes' over the run
    (:func:`probes_us`), plus the CPU
    of all kmon's other threads in the run (live or headless), plus the training
    thread's extra context switches a step (over plain's, none counted below zero)
    times ``wake_us``, a thread's wake-up on this machine, all over the plain fit's
    step time, plus one. With a core free for kmon's threads, that bounds the wall
    ratio from above: a thread delays the training thread only while it holds the
    GIL, it holds it only while it runs, and each such wait ends in a wake-up.
    """
    names = rounds[0].keys()
    if "meter" not in names:
        return []
    rows = []
    probes = probes_us(rounds)
    for name, label in (("kmon", "live"), ("headless", "headless")):
        if name not in names:
            continue
        values = []
        for r in rounds:
            step_us = r["plain"]["seconds"] * 1e6 / r["plain"]["steps"]
            cost = _hooks_us(r["meter"], timer_ns) + probes
            cost += per_step_us(r[name], _kmon_roles(r[name]))
            if "switches" in r[name]:
                cost += max(0.0, _extra_switches(r, name)) * wake_us
            values.append(1 + cost / step_us)
        note = (
            "(kmon's hooks and probes on the training thread (meter) + its other threads' "
            f"CPU, {label} + the extra wake-ups at {wake_us:.0f} µs) a step / plain's step "
            f"time, + 1: an upper bound on {name} / plain with a core free"
        )
        rows.append(Figure(f"{name}, CPU bound", values, goals.get(name), note=note))
        if all("switches" in r[name] for r in rounds):
            extra = [_extra_switches(r, name) for r in rounds]
            rows.append(Figure(f"training thread's extra context switches a step, {label}", extra))
    return rows


def cpu_figures(rounds: list[dict[str, dict]], timer_ns: int) -> list[Figure]:
    """kmon's CPU a training step, by thread, in µs: from ``meter`` (see
    :func:`meter_figures`), and each thread of the live and headless runs."""
    names = rounds[0].keys()
    rows = meter_figures(rounds, timer_ns) if "meter" in names else []
    step = median([r["plain"]["seconds"] / r["plain"]["steps"] for r in rounds])
    for name, label in (("kmon", "live"), ("headless", "headless")):
        if name not in names:
            continue
        extra = [
            per_step_us(r[name], ["training"]) - per_step_us(r["plain"], ["training"])
            for r in rounds
        ]
        rows.append(Figure(f"training thread, {label} - plain (by subtraction)", extra, unit="µs"))
        main = "main thread (UI, with the fold)" if name == "kmon" else "main thread (loop, fold)"
        for role in sorted({role for r in rounds for role in _kmon_roles(r[name])}):
            values = [per_step_us(r[name], [role]) for r in rounds]
            rows.append(Figure(f"{main if role == 'main' else role}, {label}", values, unit="µs"))
        goal = OTHER_THREADS_GOAL_US if name == "kmon" and step < FAST_STEP_SECONDS else None
        values = [per_step_us(r[name], _kmon_roles(r[name])) for r in rounds]
        rows.append(Figure(f"all kmon's other threads, {label}", values, goal, "µs"))
    return rows
