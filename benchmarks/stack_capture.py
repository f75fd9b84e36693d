"""What the frames kmon runs a script from cost each eager TensorFlow op.

TensorFlow captures the Python stack at every eager op it runs from Python
(``TFE_Py_FastPathExecute`` calls ``StackTrace::Capture``), and reads each frame's
line by walking its code's line table from the start to where the frame stands.
A Keras fit on TensorFlow runs two such ops a step (the data iterator's
``get_next_as_optional``: ``has_value`` and ``get_value``), under every frame
below the script: under ``kmon train``, the thread's first frame, the run's
``_main``, the target's ``execute`` and, in a fit, the fit hook's two (before
2026-12-05, also ``threading.Thread``'s three and runpy's three).

``_eager_op_timer.py`` times an op at the script's top level and inside ``fit()``,
and a step of an eager custom training loop (what these frames cost a script that
trains without ``fit()``: every op pays them),
in plain ``python`` and under ``kmon train --headless --log``, alternating
processes (``--pairs``). Each figure is the median over pairs of kmon's time over
plain's in the same pair; the detail gives the µs.

    python benchmarks/stack_capture.py            # 4 pairs, about a minute
    python benchmarks/stack_capture.py --quick    # 1 pair
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import clean_env, header, kmon_command, median, ratio_line

TIMER = Path(__file__).with_name("_eager_op_timer.py")


def timed(command: list[str], result: Path) -> dict[str, float]:
    env = clean_env(KMON_BENCH_RESULT=str(result))
    subprocess.run(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True
    )
    return json.loads(result.read_text())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=4)
    parser.add_argument("--quick", action="store_true", help="one pair (a smoke run)")
    args = parser.parse_args(argv)
    pairs = 1 if args.quick else args.pairs
    header("eager ops under kmon's frames")
    plain, kmon = [], []
    with tempfile.TemporaryDirectory() as folder:
        result = Path(folder) / "times.json"
        for pair in range(pairs):
            log = Path(folder) / f"run-{pair}.jsonl"  # kmon writes a new log, never over one
            commands = {
                "plain": [sys.executable, str(TIMER)],
                "kmon": [*kmon_command(), "train", "--headless", "--log", str(log), str(TIMER)],
            }
            order = ("plain", "kmon") if pair % 2 == 0 else ("kmon", "plain")
            for name in order:
                (plain if name == "plain" else kmon).append(timed(commands[name], result))
    for where in ("in_fit", "top"):
        ratios = [k[where] / p[where] for k, p in zip(kmon, plain)]
        detail = (
            f"kmon {median([k[where] for k in kmon]):.2f} µs an op, plain "
            f"{median([p[where] for p in plain]):.2f} ({pairs} pairs; a fit on TensorFlow "
            "runs 2 a step)"
        )
        print(ratio_line(f"eager_op_{where}/plain", median(ratios), None, detail))
    ratios = [k["eager_step"] / p["eager_step"] for k, p in zip(kmon, plain)]
    detail = (
        f"kmon {median([k['eager_step'] for k in kmon]):.0f} µs a step, plain "
        f"{median([p['eager_step'] for p in plain]):.0f} ({pairs} pairs; a GradientTape "
        "step of a small MLP, about 50 eager ops, at the script's top level)"
    )
    print(ratio_line("eager_loop_step/plain", median(ratios), None, detail))
    return 0


if __name__ == "__main__":
    sys.exit(main())
