"""Can kmon's diagnosis be trusted? A zoo of real, small training runs, healthy and
broken, each with the alarms it must raise, run under kmon; then true and false
positives, misses, precision and recall.

Each run is a small Keras model on synthetic data, seeded (``_zoo_healthy.py``,
``_zoo_broken.py``, ``_zoo_broken_learning.py``; ``--list`` names them). Healthy
runs must raise nothing, ever; a broken run must raise its expected kinds by the end
of its second epoch (issue #20's goal; the overfitting case, whose rule needs three
rising epochs, says its own deadline) and no kind that is wrong for it. Fixed
variants of the broken runs apply the fix their alarm's advice names and run as
healthy ones. Workers run the cases the way ``kmon train --headless --log`` runs a
script, through kmon's engine, and read the alarms back from each run's event log
(``_zoo_worker.py``); the scoring rules are in ``_zoo_score.py``.

    python benchmarks/diagnosis.py             # the whole zoo, ~5 min on 2 cores
    python benchmarks/diagnosis.py --quick     # a handful (~1 min): the test suite's
    python benchmarks/diagnosis.py --only dead_relu,dead_relu_fixed --verbose

Goals: precision 1.00 and recall 1.00, the whole zoo within 10 minutes on 2 cores.
Exits 0 (it is a measurement); ``--check`` exits 1 when precision or recall is
below 1.00.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _common import header  # noqa: E402
from _zoo_cases import Case, all_cases  # noqa: E402
from _zoo_score import judge, kind_rows, precision_recall, run_rows, tally  # noqa: E402

#: The whole zoo's goal, in seconds on 2 cores.
ZOO_SECONDS = 600.0


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a handful of cases (~1 min)")
    parser.add_argument("--only", help="comma-separated case names")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes (default 1)")
    parser.add_argument(
        "--check", action="store_true", help="exit 1 when precision or recall is below 1.00"
    )
    parser.add_argument("--verbose", action="store_true", help="each run's curves and notes")
    parser.add_argument("--logs", help="keep the runs' event logs in this folder")
    parser.add_argument("--list", action="store_true", help="list the cases and exit")
    parser.add_argument("--json", help="also write each run's verdict to this file (JSON)")
    return parser.parse_args(argv)


def select(args: argparse.Namespace) -> list[Case]:
    cases = all_cases()
    if args.only:
        wanted = [name.strip() for name in args.only.split(",") if name.strip()]
        known = {case.name: case for case in cases}
        unknown = [name for name in wanted if name not in known]
        if unknown:
            raise SystemExit(f"no such case: {', '.join(unknown)} (see --list)")
        return [known[name] for name in wanted]
    if args.quick:
        return [case for case in cases if case.quick]
    return cases


def run_workers(cases: list[Case], jobs: int, logs: Path) -> dict[str, dict]:
    """Run ``cases`` in ``jobs`` worker processes (round robin); their results by name.

    A case whose worker died before it wrote a result is reported as ``lost``, with
    the end of that worker's stderr.
    """
    jobs = max(1, min(jobs, len(cases)))
    shares = [cases[index::jobs] for index in range(jobs)]
    workers = []
    for index, share in enumerate(shares):
        results = logs / f"results-{index}.jsonl"
        results.unlink(missing_ok=True)
        stderr = (logs / f"worker-{index}.err").open("w")
        command = [sys.executable, str(HERE / "_zoo_worker.py"), str(results), str(logs)]
        process = subprocess.Popen(
            command + [case.name for case in share],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
        )
        workers.append((process, results, stderr, share))
    found: dict[str, dict] = {}
    for process, results, stderr, share in workers:
        process.wait()
        stderr.close()
        if results.exists():
            for line in results.read_text().splitlines():
                result = json.loads(line)
                found[result["name"]] = result
        tail = (logs / stderr.name).read_text()[-600:] if Path(stderr.name).exists() else ""
        for case in share:
            found.setdefault(case.name, {"name": case.name, "status": "lost", "error": tail})
    return found


def curves(result: dict) -> list[str]:
    """A run's epoch losses, batch-loss spikes and the alarms' notes (``--verbose``)."""
    lines = []
    for epoch in result.get("epochs", []):
        logs = epoch["logs"]
        shown = {
            key: value for key, value in logs.items() if key.endswith("loss") or "acc" in key
        }
        text = "  ".join(f"{key} {value:.4g}" for key, value in sorted(shown.items()))
        lines.append(f"    epoch {epoch['epoch'] + 1}: {text}")
    spikes = result.get("spikes")
    if spikes:
        lines.append(
            f"    batch losses: at most {spikes['max']}x the median of the 50 before; "
            f"{spikes['over_10x']} over 10x (first: {spikes['first']})"
        )
    for note in result.get("notes", []):
        lines.append(f"    note: {note}")
    for alarm in result.get("alarms", []):
        where = f"e{(alarm['epoch'] or 0) + 1}:{alarm['step']}" if alarm["epoch"] is not None else ""
        lines.append(
            f"    {alarm['state']} {alarm['kind']} {where} {alarm['severity']}: "
            f"{alarm['message'][:160]}"
        )
    return lines


def as_json(verdict) -> dict:
    """One run's verdict for ``--json``: kinds as sorted lists, first raises by kind
    as ``[epoch, step]`` (epoch 1-based, None at fit start)."""
    return {
        "name": verdict.case.name,
        "healthy": verdict.case.healthy,
        "status": verdict.result.get("status"),
        "seconds": verdict.result.get("seconds"),
        "expected": sorted(verdict.case.expect),
        "raised": {kind: [r.epoch, r.step] for kind, r in sorted(verdict.raises.items())},
        "hits": sorted(verdict.hits),
        "misses": sorted(verdict.misses),
        "late": sorted(verdict.late),
        "false": sorted(verdict.false),
        "allowed": sorted(verdict.allowed),
        "info": sorted(set(verdict.infos)),
        "ok": verdict.ok,
    }


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    cases = select(args)
    if args.list:
        for case in cases:
            kinds = ", ".join(sorted(case.expect)) or "healthy"
            fixes = f" (fixes {', '.join(case.fixes)})" if case.fixes else ""
            print(f"{case.name:<32} {kinds:<36} {case.what}{fixes}")
        return 0
    header("diagnosis zoo: kmon's alarms on healthy and broken runs")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="kmon-zoo-") as scratch:
        logs = Path(args.logs) if args.logs else Path(scratch)
        logs.mkdir(parents=True, exist_ok=True)
        results = run_workers(cases, args.jobs, logs)
    seconds = time.monotonic() - started
    verdicts = [judge(case, results[case.name]) for case in cases]
    healthy = sum(case.healthy for case in cases)
    print(f"runs: {len(cases)} ({healthy} healthy, {len(cases) - healthy} broken), "
          f"{args.jobs} worker(s)\n")
    for line in run_rows(verdicts):
        print(line)
    if args.verbose:
        print()
        for verdict in verdicts:
            print(f"{verdict.case.name}: {verdict.case.what}")
            for line in curves(verdict.result):
                print(line)
    table = tally(verdicts)
    print()
    for line in kind_rows(table):
        print(line)
    precision, recall = precision_recall(table)
    run_seconds = sum(verdict.result.get("seconds") or 0 for verdict in verdicts)
    print()
    print(f"ratio precision: {precision:.3f} (goal >= 1: {'MET' if precision >= 1 else 'MISSED'})")
    print(f"ratio recall: {recall:.3f} (goal >= 1: {'MET' if recall >= 1 else 'MISSED'})")
    print(
        f"ratio zoo_seconds/600: {seconds / ZOO_SECONDS:.3f}  "
        f"({seconds:.0f} s in all, {run_seconds:.0f} s inside the runs)"
    )
    if args.json:
        Path(args.json).write_text(json.dumps([as_json(v) for v in verdicts], indent=1))
    if args.check and (precision < 1 or recall < 1):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
