"""`kmon list --json`: the scenarios, their variants and claims as JSON on stdout,
without importing TensorFlow, Keras or Textual."""

from __future__ import annotations

import json
import subprocess
import sys

from kmon_process import clean_env, run_kmon

from kmon.scenarios import SCENARIOS


def test_list_json_prints_scenarios_variants_and_claims(tmp_path):
    result = run_kmon("list", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    listed = json.loads(result.stdout)
    assert [entry["name"] for entry in listed] == list(SCENARIOS)
    for entry in listed:
        assert set(entry) == {"name", "title", "variants", "claims"}
        scenario = SCENARIOS[entry["name"]]
        assert [variant["name"] for variant in entry["variants"]] == list(scenario.variants)
        for variant in entry["variants"]:
            assert set(variant) == {"name", "description", "replays"}
        replays = {variant["replays"] for variant in entry["variants"]} - {None}
        assert len(replays) == 3  # the article's three examples
        assert len(entry["claims"]) >= 10
        for claim in entry["claims"]:
            assert set(claim) == {"text", "source", "variant", "verdict"}
            assert claim["source"].endswith(".txt")
            assert claim["verdict"].startswith(("holds", "does not hold"))
    lstm = next(entry for entry in listed if entry["name"] == "lstm_constant_predictions")
    example = next(v for v in lstm["variants"] if v["name"] == "example1")
    assert example["replays"] == "002 example 1"
    relu = next(c for c in lstm["claims"] if c["variant"] == "relu")
    assert relu["source"] == "002_c5209398e32580e6.txt"
    assert relu["verdict"].startswith("does not hold")


def test_list_json_imports_no_framework():
    code = """
import contextlib, io, sys
from kmon.cli import main
with contextlib.redirect_stdout(io.StringIO()):
    code = main(["list", "--json"])
print(code, sorted(n for n in ("tensorflow", "keras", "textual") if n in sys.modules))
"""
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=clean_env(), timeout=60
    )
    assert result.stdout.strip() == "0 []", result.stderr
