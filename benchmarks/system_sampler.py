"""What the system sampler (``engine/system/``) costs: the CPU time of its own
thread per sample, as a share of one core at one sample a second.

The sampler runs as under ``kmon train`` (psutil for the process and the host,
NVML for the GPUs: absent on a machine without an NVIDIA driver, where it costs
one failed initialization), but ``--rate`` times faster, for ``--samples``
samples, emitting into a list. Its thread's CPU clock
(``pthread_getcpuclockid``) is read when it has stopped; the first reading
(priming psutil, NVML's start) is counted in.

The goal: at most 0.2% of a core at one sample a second, i.e. 2 ms of CPU per
sample.

    python benchmarks/system_sampler.py            # 60 samples at 20 a second
    python benchmarks/system_sampler.py --quick    # 20 samples
"""

from __future__ import annotations

import argparse
import time

from _common import header, ratio_line

from kmon.engine.system.sampler import SystemSampler

#: The goal: a share of one core at one sample a second.
GOAL_SHARE = 0.002


def measure(samples: int, rate: float) -> tuple[float, int, list]:
    """CPU seconds of the sampler's thread, the samples it took, and them."""
    events: list = []
    sampler = SystemSampler(events.append, 1.0 / rate)
    sampler.start()
    clock = time.pthread_getcpuclockid(sampler.thread.ident)
    while sampler.samples < samples:
        time.sleep(0.05)
    # Read before it stops: a finished thread's clock is gone.
    cpu = time.clock_gettime(clock)
    taken = sampler.samples
    sampler.stop()
    return cpu, taken, events


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=60)
    parser.add_argument("--rate", type=float, default=20.0, help="samples a second")
    parser.add_argument("--quick", action="store_true", help="20 samples")
    args = parser.parse_args()
    samples = 20 if args.quick else args.samples
    header("system sampler: CPU per sample")
    cpu, taken, events = measure(samples, args.rate)
    per_sample = cpu / taken
    share = per_sample / 1.0  # one sample a second
    last = events[-1]
    print(f"samples: {taken} at {args.rate:g}/s · thread CPU {cpu * 1000:.1f} ms")
    print(f"per sample: {per_sample * 1e6:.0f} µs of CPU · GPUs read: {len(last.gpus)}")
    if last.gpu_note:
        print(last.gpu_note)
    print(f"at one sample a second: {share * 100:.3f}% of a core")
    print(ratio_line("sampler_core_share/goal", share / GOAL_SHARE, 1.0))


if __name__ == "__main__":
    main()
