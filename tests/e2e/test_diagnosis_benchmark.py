"""The diagnosis benchmark (``benchmarks/diagnosis.py``): its scoring rules on
numbers alone, and its ``--quick`` zoo run for real under kmon.

The quick run trains four small Keras models in a worker process (about a minute on
2 cores) and checks what kmon's alarms of today decide on them: a healthy MLP and a
slowly learning three-head LSTM raise nothing; the unscaled LSTM raises
``unscaled_data`` at fit start and ``prediction_variance`` during training; NaN in
the inputs raises ``nonfinite_data`` at fit start.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from locations import BENCHMARKS

sys.path.insert(0, str(BENCHMARKS))

from _zoo_cases import KINDS, Case, all_cases  # noqa: E402
from _zoo_score import judge, precision_recall, run_rows, tally  # noqa: E402


def alarm(kind, epoch, step=0, *, state="raised", severity="warning"):
    return {"kind": kind, "state": state, "severity": severity, "epoch": epoch, "step": step}


def a_case(expect=(), allow=(), deadline=2):
    return Case("c", "a case", lambda: None, frozenset(expect), frozenset(allow), deadline=deadline)


def test_an_expected_kind_counts_only_by_the_end_of_the_deadline_epoch():
    case = a_case(expect={"nan_loss", "overfitting"})
    # Epochs in the log are 0-based: epoch 1 is the second, epoch 2 the third.
    result = {"status": "ok", "alarms": [alarm("nan_loss", 1, 30), alarm("overfitting", 2)]}
    verdict = judge(case, result)
    assert verdict.hits == {"nan_loss"}
    assert verdict.misses == verdict.late == {"overfitting"}
    assert verdict.raises["nan_loss"].where == "e2:30"
    assert not verdict.ok


def test_a_fit_start_raise_is_in_time_and_a_case_can_set_its_own_deadline():
    case = a_case(expect={"unscaled_data", "overfitting"}, deadline=6)
    result = {"status": "ok", "alarms": [alarm("unscaled_data", None, None), alarm("overfitting", 5)]}
    verdict = judge(case, result)
    assert verdict.hits == {"unscaled_data", "overfitting"} and verdict.ok
    assert verdict.raises["unscaled_data"].where == "start"


def test_any_raise_on_a_healthy_run_is_false_however_late_and_info_counts_for_nothing():
    result = {
        "status": "ok",
        "alarms": [
            alarm("no_learning", 0, severity="info"),
            alarm("overfitting", 19),
            alarm("overfitting", 19, state="cleared"),
        ],
    }
    verdict = judge(a_case(), result)
    assert verdict.false == {"overfitting"} and verdict.infos == ["no_learning"]
    table = tally([verdict])
    assert (table["overfitting"].false, table["no_learning"].false) == (1, 0)
    assert precision_recall(table) == (0.0, 1.0)


def test_allowed_kinds_are_neither_hits_nor_false_and_a_failed_run_misses_all():
    case = a_case(expect={"dead_units"}, allow={"prediction_variance"})
    verdict = judge(case, {"status": "ok", "alarms": [alarm("prediction_variance", 0)]})
    assert verdict.allowed == {"prediction_variance"} and not verdict.false
    assert verdict.misses == {"dead_units"}
    lost = judge(case, {"status": "lost", "error": "worker died"})
    assert lost.misses == {"dead_units"} and not lost.ran
    assert "LOST" in run_rows([verdict, lost])[-2]


def test_overall_precision_and_recall():
    broken = judge(a_case(expect={"nan_loss"}), {"status": "ok", "alarms": [alarm("nan_loss", 0)]})
    missed = judge(a_case(expect={"dead_units"}), {"status": "ok", "alarms": []})
    false = judge(a_case(), {"status": "ok", "alarms": [alarm("unscaled_data", None)]})
    assert precision_recall(tally([broken, missed, false])) == (0.5, 0.5)


def test_the_zoo_has_what_the_issue_asks_for():
    cases = all_cases()
    healthy = [case for case in cases if case.healthy]
    broken = [case for case in cases if not case.healthy]
    assert len(healthy) >= 14 and len(broken) >= 10
    assert len([case for case in healthy if not case.fixes]) >= 14
    names = {case.name for case in cases}
    for case in healthy:
        assert set(case.fixes) <= {one.name for one in broken}, case.name
    # Every kind the zoo judges has a broken run that must raise it, and every
    # broken run a fixed variant.
    assert set(KINDS) == {kind for case in broken for kind in case.expect}
    fixed = {name for case in healthy for name in case.fixes}
    assert fixed == {case.name for case in broken}
    assert len(names) == len(cases)


@pytest.mark.e2e
def test_quick_zoo_under_kmon(tmp_path):
    verdicts = tmp_path / "verdicts.json"
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / "diagnosis.py"), "--quick", "--json", str(verdicts)],
        capture_output=True,
        text=True,
        timeout=400,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    assert out.startswith("== diagnosis zoo") and "\nmachine: nproc " in out
    for heading in ("expected", "raised (first: epoch:step)", "true+", "false+", "misses"):
        assert heading in out, out
    assert "ratio precision: " in out and "ratio recall: " in out, out
    runs = {run["name"]: run for run in json.loads(verdicts.read_text())}
    assert set(runs) == {"mlp_binary", "multi_head_slow", "unscaled_lstm", "nan_in_data"}
    assert all(run["status"] == "ok" for run in runs.values()), runs
    # Healthy: nothing raised at all.
    assert runs["mlp_binary"]["raised"] == {} and runs["mlp_binary"]["ok"]
    assert runs["multi_head_slow"]["raised"] == {}, runs["multi_head_slow"]
    # The unscaled LSTM: the data check at fit start, and the collapse within its five
    # epochs: by the second in most runs, but the prediction probes run within a
    # budget of the steps' time and their cost carries over, so on a busy machine
    # the three checks in a row it needs have come in the third.
    lstm = runs["unscaled_lstm"]
    assert lstm["raised"]["unscaled_data"] == [None, None] and "unscaled_data" in lstm["hits"]
    assert "prediction_variance" in lstm["raised"], lstm
    assert not lstm["false"], lstm
    # NaN in the inputs: nonfinite_data at fit start.
    nan = runs["nan_in_data"]
    assert nan["raised"]["nonfinite_data"] == [None, None] and "nonfinite_data" in nan["hits"]
    assert not nan["false"], nan
