"""Terminal bandwidth: bytes a second written to the terminal while training, what
an SSH link must carry.

The training script (``_mlp_workload.py``: about 1,000 steps a second on a CPU,
epochs of 3,000 steps) runs on a real 120x40 pseudo-terminal under
``kmon train`` and, beside it in alternating pairs, as ``python script.py`` with
Keras's own progress bar (``verbose=1``). A reader thread takes the pty's output
as it comes; the figure counts the bytes written during a window that starts a
few seconds into the timed fit (steady state: the monitor is up, the step rate
settled) and ends before it does. Goal for kmon: <= 20 KB/s (20,000 bytes).

    python benchmarks/terminal_bandwidth.py            # 2 pairs, 10 s windows
    python benchmarks/terminal_bandwidth.py --quick    # 1 pair, a 0.6 s window (a smoke run)
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from _common import HERE, PtyProgram, clean_env, header, kmon_command, median, ratio_line

WORKLOAD = HERE / "_mlp_workload.py"
GOAL = 20_000.0


def bytes_per_second(
    name: str, folder: Path, warmup: float, window: float, index: int, steps: int = 3000
) -> float:
    result = folder / f"{name}-{index}.jsonl"
    env = clean_env(
        KMON_BENCH_RESULT=str(result),
        KMON_BENCH_STEPS=str(steps),
        # Long enough to outlast warm-up and window at any plausible speed.
        KMON_BENCH_EPOCHS=str(max(10, int((warmup + window) * 4 * 3000 / steps))),
        KMON_BENCH_REPEATS="1",
        KMON_BENCH_WARMUP_EPOCHS="1",
        KMON_BENCH_WARMUP_SECONDS="0",
        KMON_BENCH_VERBOSE="1" if name == "progbar" else "0",
    )
    argv = (
        [
            *kmon_command(),
            "train",
            "--log",
            str(folder / f"{name}-{index}.events.jsonl"),
            str(WORKLOAD),
        ]
        if name == "kmon"
        else [sys.executable, str(WORKLOAD)]
    )
    program = PtyProgram(argv, cwd=folder, env=env)
    try:

        def fitting() -> bool:
            return result.exists() and '"fit_begin"' in result.read_text()

        if not program.wait_until(fitting, 300):
            raise RuntimeError(f"{name}: the timed fit never began:\n{program.output}")
        time.sleep(warmup)
        start = time.perf_counter()
        time.sleep(window)
        end = time.perf_counter()
        finished = [json.loads(line) for line in result.read_text().splitlines()]
        if any(event["event"] == "fit" for event in finished):
            raise RuntimeError(f"{name}: the fit ended inside the window; use more epochs")
        return program.bytes_between(start, end) / (end - start)
    finally:
        program.kill()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="1 pair, a 0.6 s window, a short warm-up fit"
    )
    parser.add_argument("--pairs", type=int, default=2, help="alternating pairs")
    parser.add_argument("--window", type=float, default=10.0, help="seconds counted")
    parser.add_argument("--warmup", type=float, default=4.0, help="seconds into the fit first")
    args = parser.parse_args(argv)
    # The warm-up fit is one epoch: 3,000 steps take seconds where a step is slow.
    steps = 3000
    if args.quick:
        args.pairs, args.window, args.warmup, steps = 1, 0.6, 0.4, 300
    header("terminal bandwidth")
    rates: dict[str, list[float]] = {"kmon": [], "progbar": []}
    with tempfile.TemporaryDirectory(prefix="kmon-bench-") as tmp:
        for index in range(args.pairs):
            order = ["kmon", "progbar"] if index % 2 == 0 else ["progbar", "kmon"]
            for name in order:
                rate = bytes_per_second(name, Path(tmp), args.warmup, args.window, index, steps)
                rates[name].append(rate)
                print(f"pair {index + 1}/{args.pairs}: {name} {rate:,.0f} B/s", flush=True)
    kmon, progbar = median(rates["kmon"]), median(rates["progbar"])
    print(
        f"kmon live monitor: median {kmon:,.0f} B/s · Keras verbose=1: median {progbar:,.0f} B/s "
        f"({args.pairs} pairs, {args.window:g} s windows, 120x40)"
    )
    print(ratio_line("kmon_bytes_per_s/20KB", kmon / GOAL, 1.0, "goal <= 20,000 B/s"))
    print(ratio_line("kmon/keras_progbar", kmon / progbar, None, f"{args.pairs} alternating pairs"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
