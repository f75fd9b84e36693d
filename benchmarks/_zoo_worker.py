"""Runs diagnosis-zoo cases one after another in this process, each the way
``kmon train --headless --log`` runs a script, and writes what each raised.

    python benchmarks/_zoo_worker.py RESULTS LOGS NAME [NAME ...]

Each case goes through kmon's engine: a :class:`~kmon.engine.run.session.Session`
around a :class:`~kmon.engine.run.targets.CallableTarget` (kmon's fit hook, its
callbacks and its probes, as for any script), after ``keras.backend.clear_session()``
and with every random seed set. Its event log is written under LOGS and read back
with :func:`~kmon.engine.log.eventlog.read_events`; one JSON line per case is
appended to RESULTS as soon as the case ends. ``diagnosis.py`` starts these workers:
one process runs many cases, so TensorFlow's import (about 5 s) is paid once.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _zoo_cases import SEED, Case, all_cases  # noqa: E402

#: A case that runs longer than this is stopped (after its current batch).
CASE_TIMEOUT = 120.0


def run_case(case: Case, logs: Path) -> dict:
    """Run ``case`` under kmon and return what it raised and how it trained."""
    import keras

    from kmon.engine.log.eventlog import read_events
    from kmon.engine.run.session import Session
    from kmon.engine.run.targets import CallableTarget

    keras.backend.clear_session()

    def train() -> None:
        keras.utils.set_random_seed(SEED)
        case.train()

    log = logs / f"{case.name}.jsonl"
    log.unlink(missing_ok=True)
    session = Session(CallableTarget(case.name, train), log, capture=False)
    started = time.monotonic()
    session.start()
    if not session.wait(CASE_TIMEOUT):
        session.request_stop()
        session.wait(30.0)
    seconds = time.monotonic() - started
    session.close()
    events, report = read_events(log)
    result = summarize(events)
    result.update(
        name=case.name,
        seconds=round(seconds, 2),
        status=session.status or "timeout",
        error=(session.error or {}).get("message"),
        skipped_events=report.skipped,
    )
    return result


def summarize(events) -> dict:
    """The alarms (every state change), the epochs' logs, the alarms' notes, the
    fits' sizes and the batch losses' spikes, from a case's events."""
    alarms, epochs, notes, fits, losses = [], [], [], [], []
    for event in events:
        if event.type == "batch":
            loss = (event.values or {}).get("loss")
            if isinstance(loss, float):
                losses.append((event.epoch, event.step, loss))
            continue
        if event.type == "alarm":
            alarms.append(
                {
                    "kind": event.kind,
                    "state": event.state,
                    "severity": event.severity,
                    "fit": event.fit,
                    "epoch": event.epoch,
                    "step": event.step,
                    "subject": event.subject,
                    "message": event.message,
                }
            )
        elif event.type == "epoch_end":
            logs = {key: value for key, value in event.logs.items() if isinstance(value, float)}
            epochs.append({"fit": event.fit, "epoch": event.epoch, "logs": logs})
        elif event.type == "notice" and event.text.startswith("alarms:"):
            notes.append(event.text)
        elif event.type == "fit_start":
            fits.append({"fit": event.fit, "epochs": event.epochs, "steps": event.steps})
    return {
        "alarms": alarms,
        "epochs": epochs,
        "notes": notes,
        "fits": fits,
        "spikes": spikes(losses),
    }


def spikes(losses: list[tuple[int, int, float]], *, window: int = 50, after: int = 20) -> dict:
    """How far the batch losses (as kmon recovers them) rose above the median of the
    ``window`` before them: the largest ratio, the steps over 10x and the first of
    them (epoch 0-based, step). A measurement beside the alarms, so a case's
    instability can be checked whatever ``unstable_training`` decides."""
    import math
    import statistics

    largest, over, first = 0.0, 0, None
    finite = [(epoch, step, loss) for epoch, step, loss in losses if math.isfinite(loss)]
    for index in range(after, len(finite)):
        median = statistics.median(loss for _, _, loss in finite[max(0, index - window) : index])
        if median <= 0:
            continue
        ratio = finite[index][2] / median
        largest = max(largest, ratio)
        if ratio > 10:
            over += 1
            if first is None:
                first = list(finite[index][:2])
    return {"max": round(largest, 2), "over_10x": over, "first": first}


def main(argv: list[str]) -> int:
    results, logs, names = Path(argv[0]), Path(argv[1]), argv[2:]
    logs.mkdir(parents=True, exist_ok=True)
    cases = {case.name: case for case in all_cases()}
    for name in names:
        try:
            result = run_case(cases[name], logs)
        except Exception as exc:  # noqa: BLE001 - one broken case must not lose the others
            result = {"name": name, "status": "error", "error": f"{type(exc).__name__}: {exc}"}
        with results.open("a") as out:
            out.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
