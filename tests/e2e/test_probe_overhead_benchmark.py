"""benchmarks/probe_overhead.py runs (a tiny configuration; no timing is asserted)."""

from __future__ import annotations

import importlib.util

from locations import BENCHMARKS

SCRIPT = BENCHMARKS / "probe_overhead.py"


def test_the_benchmark_runs_and_prints_its_ratio(capsys):
    spec = importlib.util.spec_from_file_location("probe_overhead", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    ratio = module.main(["--quick"])
    out = capsys.readouterr().out
    assert ratio > 0
    assert "ratio (median of 1 pairs)" in out and "goal <= 1.02" in out
    assert "unexpected alarm" not in out
