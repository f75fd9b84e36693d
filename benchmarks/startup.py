"""Start-up: how soon kmon shows something, in a real 120x40 pseudo-terminal.

- ``kmon`` (the scenario menu): from spawn to "bundled scenarios" on the screen;
  goal <= 1 s. Beside it, in alternating pairs, ``python -c "import tensorflow"``
  (spawn to exit): the menu must not wait for TensorFlow.
- ``kmon replay`` of a 1,000,000-batch event log (written with kmon's own event
  classes, an epoch every 1,000 batches): from spawn to the run's header on the
  screen; goal <= 2 s. Beside it, in alternating pairs, the same command on a
  100-batch log: what the log's size adds to the first frame. Also printed: when
  the whole log is on screen (the header says it finished).

The screen is the pty's output fed to a pyte terminal as it arrives; a text counts
as shown at the read that completed it.

    python benchmarks/startup.py            # 5 pairs each, a 1,000,000-batch log
    python benchmarks/startup.py --quick    # 1 pair each, a 100,000-batch log
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import PtyProgram, clean_env, header, kmon_command, median, ratio_line

from kmon.engine.events import Batch, EpochEnd, EpochStart, FitEnd, FitStart, RunEnd, RunStart

MENU_TEXT = "bundled scenarios"
MENU_GOAL = 1.0
REPLAY_GOAL = 2.0
SCRIPT_NAME = "startup_replay.py"
HEADER_TEXT = f"kmon {SCRIPT_NAME}"
FINISHED_TEXT = "✔ finished"
TIMEOUT = 120.0


def write_log(path: Path, batches: int, epoch_every: int = 1000) -> int:
    """A finished run of ``batches`` batch events; the file's size in bytes."""
    t = 1_764_000_000.0
    epochs = max(1, -(-batches // epoch_every))
    with open(path, "w", encoding="utf-8") as handle:

        def put(event) -> None:
            handle.write(event.to_json())
            handle.write("\n")

        put(RunStart(script=f"/bench/{SCRIPT_NAME}", argv=[SCRIPT_NAME], t=t))
        put(
            FitStart(
                fit=0,
                epochs=epochs,
                steps=epoch_every,
                outputs=["dense"],
                model="bench",
                batch_size=32,
                samples=32 * epoch_every,
                t=t,
            )
        )
        mean = 0.0
        for index in range(batches):
            epoch, step = divmod(index, epoch_every)
            t += 0.001
            if step == 0:
                put(EpochStart(fit=0, epoch=epoch, t=t))
                mean = 0.0
            value = 1.0 / (1.0 + index * 1e-5) + (index % 13) * 1e-3
            mean += (value - mean) / (step + 1)
            put(
                Batch(
                    fit=0,
                    epoch=epoch,
                    step=step,
                    size=32,
                    t=t,
                    logs={"loss": mean, "accuracy": 0.5},
                    values={"loss": value, "accuracy": 0.5},
                )
            )
            if step == epoch_every - 1 or index == batches - 1:
                put(EpochEnd(fit=0, epoch=epoch, logs={"loss": mean, "accuracy": 0.5}, t=t))
        put(FitEnd(fit=0, t=t))
        put(RunEnd(status="ok", exit_code=0, fits=1, t=t))
    return path.stat().st_size


def first_frame(
    argv: list[str], needle: str, cwd: Path, *, then: str | None = None, seen: list | None = None
) -> float:
    """Seconds from spawn until ``needle`` is on the screen; then quit the app. With
    ``then``, wait for that text too and append its time to ``seen``."""
    program = PtyProgram(argv, cwd=cwd, screen=True)
    try:
        seconds = program.wait_for_text(needle, TIMEOUT)
        if seconds is None:
            raise RuntimeError(f"{needle!r} never showed; screen:\n{program.text}")
        if then is not None and seen is not None:
            seen.append(program.wait_for_text(then, TIMEOUT))
        program.send("q")
        program.finish(30)
    finally:
        program.kill()
    return seconds


def import_tensorflow() -> float:
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", "import tensorflow"],
        env=clean_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=True,
    )
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 pair each, a smaller log")
    parser.add_argument("--pairs", type=int, default=5, help="alternating pairs per figure")
    parser.add_argument("--batches", type=int, default=1_000_000, help="batches in the big log")
    args = parser.parse_args(argv)
    if args.quick:
        args.pairs, args.batches = 1, 100_000
    header("start-up")
    kmon = kmon_command()
    with tempfile.TemporaryDirectory(prefix="kmon-bench-") as tmp:
        folder = Path(tmp)
        menu, tf = [], []
        for index in range(args.pairs):
            pair = [
                lambda: menu.append(first_frame(kmon, MENU_TEXT, folder)),
                lambda: tf.append(import_tensorflow()),
            ]
            for run in pair if index % 2 == 0 else pair[::-1]:
                run()
        print(
            f"kmon menu first frame: median {median(menu):.2f}s · python -c 'import "
            f"tensorflow': median {median(tf):.2f}s ({args.pairs} pairs)"
        )
        print(
            ratio_line(
                "menu_first_frame/goal",
                median(menu) / MENU_GOAL,
                1.0,
                f"goal <= {MENU_GOAL:g} s, {args.pairs} runs",
            )
        )
        print(
            ratio_line(
                "menu_first_frame/import_tensorflow",
                median(menu) / median(tf),
                None,
                f"median of {args.pairs} alternating pairs",
            )
        )

        started = time.perf_counter()
        big, small = folder / "big.jsonl", folder / "small.jsonl"
        size = write_log(big, args.batches)
        write_log(small, 100)
        print(
            f"wrote a {args.batches:,}-batch log ({size / 2**20:.0f} MiB) in "
            f"{time.perf_counter() - started:.1f}s"
        )
        replay_big, replay_small, loaded = [], [], []
        for index in range(args.pairs):
            pair = [
                lambda: replay_big.append(
                    first_frame(
                        [*kmon, "replay", str(big)],
                        HEADER_TEXT,
                        folder,
                        then=FINISHED_TEXT,
                        seen=loaded,
                    )
                ),
                lambda: replay_small.append(
                    first_frame([*kmon, "replay", str(small)], HEADER_TEXT, folder)
                ),
            ]
            for run in pair if index % 2 == 0 else pair[::-1]:
                run()
        print(
            f"kmon replay first frame: {args.batches:,}-batch log median "
            f"{median(replay_big):.2f}s · 100-batch log median {median(replay_small):.2f}s "
            f"({args.pairs} pairs)"
        )
        if all(seconds is not None for seconds in loaded):
            print(f"then the whole log on screen (✔ finished): median {median(loaded):.1f}s")
        print(
            ratio_line(
                "replay_first_frame/goal",
                median(replay_big) / REPLAY_GOAL,
                1.0,
                f"goal <= {REPLAY_GOAL:g} s for {args.batches:,} batches",
            )
        )
        print(
            ratio_line(
                "replay_big/replay_small",
                median(replay_big) / median(replay_small),
                None,
                f"median of {args.pairs} alternating pairs",
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
