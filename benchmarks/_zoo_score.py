"""Scoring the diagnosis zoo: what each run raised against what it must raise, per
alarm kind and overall, and the tables ``diagnosis.py`` prints.

Plain Python (no Keras): the worker's results are JSON.

The rules:

- A raise is an ``alarm`` event in state ``raised`` with severity ``warning`` or
  ``error``; info-level notices (such as "not learning yet") are listed apart and
  count for nothing.
- An expected kind raised by the end of the case's deadline epoch (the second,
  unless the case says otherwise) is a true positive; not raised by then, a miss
  (one raised later is shown as ``late``).
- A kind neither expected nor allowed by the case is a false positive whenever it
  was raised: a healthy run must stay silent for its whole length.
- An allowed kind (true of the run, not what it is about) counts for nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from _zoo_cases import KINDS, Case

SEVERE = ("warning", "error")


@dataclass
class Raise:
    """The first raise of one kind in a run."""

    kind: str
    epoch: int | None
    """1-based, as Keras's progress bar counts; None: at fit start (data checks)."""
    step: int | None

    @property
    def where(self) -> str:
        if self.epoch is None:
            return "start"
        return f"e{self.epoch}" + (f":{self.step}" if self.step is not None else "")

    def by(self, deadline: int) -> bool:
        return self.epoch is None or self.epoch <= deadline


@dataclass
class Verdict:
    """One run, judged."""

    case: Case
    result: dict
    raises: dict[str, Raise] = field(default_factory=dict)
    hits: set[str] = field(default_factory=set)
    misses: set[str] = field(default_factory=set)
    late: set[str] = field(default_factory=set)
    false: set[str] = field(default_factory=set)
    allowed: set[str] = field(default_factory=set)
    infos: list[str] = field(default_factory=list)

    @property
    def ran(self) -> bool:
        return self.result.get("status") in ("ok", "stopped")

    @property
    def ok(self) -> bool:
        return self.ran and not self.misses and not self.false


def first_raises(alarms: list[dict]) -> tuple[dict[str, Raise], list[str]]:
    """Each kind's first warning- or error-level raise, and the info-level ones."""
    raises: dict[str, Raise] = {}
    infos: list[str] = []
    for alarm in alarms:
        if alarm.get("state") != "raised":
            continue
        kind = alarm.get("kind", "?")
        if alarm.get("severity") not in SEVERE:
            infos.append(kind)
            continue
        if kind not in raises:
            epoch = alarm.get("epoch")
            raises[kind] = Raise(kind, None if epoch is None else epoch + 1, alarm.get("step"))
    return raises, infos


def judge(case: Case, result: dict) -> Verdict:
    """What ``case`` raised against what it must raise."""
    verdict = Verdict(case, result)
    if not verdict.ran:
        verdict.misses = set(case.expect)
        return verdict
    verdict.raises, verdict.infos = first_raises(result.get("alarms", []))
    for kind in case.expect:
        raise_ = verdict.raises.get(kind)
        if raise_ is not None and raise_.by(case.deadline):
            verdict.hits.add(kind)
        else:
            verdict.misses.add(kind)
            if raise_ is not None:
                verdict.late.add(kind)
    for kind in verdict.raises:
        if kind in case.allow:
            verdict.allowed.add(kind)
        elif kind not in case.expect:
            verdict.false.add(kind)
    return verdict


@dataclass
class Tally:
    hits: int = 0
    false: int = 0
    misses: int = 0
    late: int = 0


def tally(verdicts: list[Verdict]) -> dict[str, Tally]:
    """True positives, false positives, misses (and late raises among them) by kind,
    for every kind the zoo judges and any other that was raised."""
    kinds = list(KINDS) + sorted(
        {kind for v in verdicts for kind in v.raises if kind not in KINDS}
    )
    table = {kind: Tally() for kind in kinds}
    for verdict in verdicts:
        for kind in verdict.hits:
            table[kind].hits += 1
        for kind in verdict.false:
            table[kind].false += 1
        for kind in verdict.misses:
            table[kind].misses += 1
        for kind in verdict.late:
            table[kind].late += 1
    return table


def precision_recall(table: dict[str, Tally]) -> tuple[float, float]:
    """Overall precision and recall (1.0 where nothing was raised or expected)."""
    hits = sum(t.hits for t in table.values())
    false = sum(t.false for t in table.values())
    misses = sum(t.misses for t in table.values())
    precision = hits / (hits + false) if hits + false else 1.0
    recall = hits / (hits + misses) if hits + misses else 1.0
    return precision, recall


# -- the tables ---------------------------------------------------------------------------


def _kinds(kinds, verdict: Verdict | None = None) -> str:
    if not kinds:
        return "-"
    parts = []
    for kind in sorted(kinds):
        text = kind
        if verdict is not None and kind in verdict.raises:
            text += " " + verdict.raises[kind].where
            if kind in verdict.late:
                text += " LATE"
            elif kind in verdict.false:
                text += " FALSE"
            elif kind in verdict.allowed:
                text += " (allowed)"
        parts.append(text)
    return ", ".join(parts)


def run_rows(verdicts: list[Verdict]) -> list[str]:
    """One line per run: name, healthy/broken/fix, deadline epoch, verdict, seconds,
    expected kinds, raised kinds (each with where it was first raised)."""
    width = max(len(v.case.name) for v in verdicts)
    expected = max([8, *(len(_kinds(v.case.expect)) for v in verdicts)])
    lines = [
        f"{'run':<{width}}  {'kind':<7} {'by':>2}  {'verdict':<10} {'s':>5}  "
        f"{'expected':<{expected}}  raised (first: epoch:step)"
    ]
    for verdict in verdicts:
        case = verdict.case
        label = "fix" if case.fixes else "healthy" if case.healthy else "broken"
        if not verdict.ran:
            outcome = str(verdict.result.get("status", "?")).upper()
        elif verdict.ok:
            outcome = "ok"
        else:
            outcome = "+".join(
                part
                for part, present in (("miss", verdict.misses), ("false", verdict.false))
                if present
            )
        seconds = verdict.result.get("seconds")
        seconds = f"{seconds:.1f}" if isinstance(seconds, (int, float)) else "-"
        lines.append(
            f"{case.name:<{width}}  {label:<7} {case.deadline:>2}  {outcome:<10} {seconds:>5}  "
            f"{_kinds(case.expect):<{expected}}  {_kinds(verdict.raises, verdict)}"
        )
        if verdict.infos:
            lines.append(f"{'':<{width}}  info-level: {', '.join(sorted(set(verdict.infos)))}")
        if not verdict.ran and verdict.result.get("error"):
            lines.append(f"{'':<{width}}  error: {verdict.result['error'][-300:]}")
    return lines


def kind_rows(table: dict[str, Tally]) -> list[str]:
    lines = [f"{'alarm kind':<22} {'true+':>6} {'false+':>7} {'misses':>7} {'(late)':>7}"]
    for kind, row in table.items():
        lines.append(f"{kind:<22} {row.hits:>6} {row.false:>7} {row.misses:>7} {row.late:>7}")
    return lines
