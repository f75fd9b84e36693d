"""The benchmarks in ``benchmarks/`` run (``--quick``) and print their figures.

No assertion here is about time: the figures depend on the machine and its load
(see docs/benchmarks.md). The smoke runs only check that each script finishes and
prints its ratio lines.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from locations import BENCHMARKS

RATIO_LINE = re.compile(r"^ratio [\w/]+: \d+\.\d{3}", re.MULTILINE)

#: Script -> the ratio names it must print.
SMOKE = {
    "training_overhead.py": ["headless"],
    "callback_cost.py": ["training_thread_hooks/goal"],
    "block_fold.py": ["numpy/lists_500"],
    "ui_throughput.py": ["p95_latency/goal", "epoch_end_seen/produced"],
    "ui_cost.py": ["ui_thread_cpu/goal", "ui_thread_cpu/bare_textual"],
    "memory.py": ["rss_growth/50MB"],
    "startup.py": ["menu_first_frame/goal", "replay_first_frame/goal"],
    "terminal_bandwidth.py": ["kmon_bytes_per_s/20KB", "kmon/keras_progbar"],
    "replay_speed.py": ["replay_on_screen/goal", "compare_4_logs/goal"],
    "ps_speed.py": ["list_runs/goal", "kmon_ps/goal", "kmon_stop_over_startup/goal"],
    "system_sampler.py": ["sampler_core_share/goal"],
    "baseline_cost.py": ["baseline_added_cpu/goal"],
    "stack_capture.py": ["eager_op_in_fit/plain", "eager_op_top/plain"],
    "other_core_load.py": ["aa_steps/idle", "100hz_1000us_training_cpu/idle"],
    "thread_interference.py": ["live_steps_at_work/idle", "live_aa_at_work"],
    "runs_screen.py": [
        "first_full_table/goal",
        "first_full_table_cpu/goal",
        "later_passes_core_share/goal",
    ],
}


@pytest.mark.skipif(sys.platform == "win32", reason="the benchmarks use POSIX pseudo-terminals")
@pytest.mark.parametrize("script", sorted(SMOKE))
def test_benchmark_runs_quick_and_prints_its_ratios(script):
    pytest.importorskip("pexpect", reason="the benchmarks drive programs on a pty")
    pytest.importorskip("pyte", reason="the benchmarks read the screen through pyte")
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), "--quick"],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert result.stdout.startswith("== ") and "\nmachine: nproc " in result.stdout
    assert RATIO_LINE.search(result.stdout), result.stdout
    for name in SMOKE[script]:
        assert f"ratio {name}: " in result.stdout, result.stdout
    if script == "training_overhead.py":
        # The table of figures, with kmon's CPU a step from inside and by thread.
        rows = ("kmon's batch hooks", "kmon-eventlog, headless", "main thread (loop", "headless, CPU bound")
        for row in rows:
            assert row in result.stdout, result.stdout
