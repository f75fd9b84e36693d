"""What kmon's training alarms cost: fit() wall time with probes at the default rate
against fit() without them.

Both arms run kmon's own callback (the one that streams batches); the probed arm
adds :class:`~kmon.engine.alarms.probe_callback.ProbeCallback` with the default
:class:`~kmon.engine.probes.ProbeConfig`, exactly as ``kmon train`` does. One model
is trained throughout, so after the warm-up fits every ``tf.function`` (Keras's train
and predict functions, kmon's gradient function) is compiled: the pairs measure the
steady cost, and the one-time compile cost of the probes is printed separately.
Pairs alternate which arm runs first, and the ratio reported is the median of the
per-pair ratios. On a busy machine single pairs are noisy (other processes, not the
probes); the time spent inside the probes, measured around each call, is printed
too and does not depend on that noise.

    python benchmarks/probe_overhead.py            # ~40 s on 2 cores
    python benchmarks/probe_overhead.py --quick    # a smoke run, seconds

Goal: ratio <= 1.02.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=15, help="timed pairs (default 15)")
    parser.add_argument("--epochs", type=int, default=2, help="epochs per fit (default 2)")
    parser.add_argument("--samples", type=int, default=4000, help="training windows (default 4000)")
    parser.add_argument(
        "--workload",
        choices=("lstm", "mlp"),
        default="lstm",
        help="lstm: 16-unit LSTM, ~5 ms a step (default); mlp: the training_overhead "
        "MLP, ~1 ms a step, where a probe's fixed cost weighs most",
    )
    parser.add_argument("--quick", action="store_true", help="1 pair of tiny fits (a smoke run)")
    args = parser.parse_args(argv)
    if args.quick:
        args.pairs, args.epochs, args.samples = 1, 1, 256
    return args


def mlp_workload(samples: int):
    """The MLP of ``_mlp_workload.py`` (32 features, 64-64-1, binary): about 1 ms a
    step on a CPU."""
    from _mlp_workload import build

    return build(samples)


def workload(samples: int):
    """A standardized univariate series in windows of 24, and a 16-unit LSTM: about
    5 ms a step on a CPU core."""
    import keras
    import numpy as np

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    t = np.arange(samples + 24)
    series = np.sin(2 * np.pi * t / 24) + 0.3 * np.sin(2 * np.pi * t / 168)
    series = series + 0.1 * rng.normal(size=t.size)
    x = np.stack([series[i : i + 24] for i in range(samples)])[..., None].astype("float32")
    y = series[24 : 24 + samples, None].astype("float32")
    model = keras.Sequential([keras.Input((24, 1)), keras.layers.LSTM(16), keras.layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    return model, x, y


#: CPU time (all threads of this process) of each fit, by arm: less disturbed than
#: wall time by other processes on a shared machine.
cpu_seconds: dict[bool, list[float]] = {True: [], False: []}


def timed_fit(model, x, y, epochs: int, probed: bool, fit_index: int):
    """One fit() with kmon's callbacks; returns (seconds, the probe callback or None)."""
    from kmon.engine.alarms.book import AlarmBook
    from kmon.engine.alarms.probe_callback import ProbeCallback
    from kmon.engine.probes import FitData, ProbeConfig
    from kmon.engine.training.callback import KmonCallback

    events: list = []
    batch_size = 32
    callbacks = [KmonCallback(events.append, fit_index, samples=len(x), batch_size=batch_size)]
    probe = None
    if probed:
        probe = ProbeCallback(
            events.append,
            fit_index,
            AlarmBook(events.append),
            FitData(x, y, len(x), batch_size),
            config=ProbeConfig(),
            head_map=callbacks[0].head_map,
        )
        callbacks.append(probe)
    start, cpu = time.perf_counter(), time.process_time()
    model.fit(x, y, epochs=epochs, batch_size=batch_size, verbose=0, callbacks=callbacks)
    seconds = time.perf_counter() - start
    cpu_seconds[probed].append(time.process_time() - cpu)
    alarms = [e for e in events if e.type == "alarm"]
    if alarms:
        print(f"  unexpected alarm on a healthy model: {alarms[0].message}")
    return seconds, probe


def main(argv: list[str] | None = None) -> float:
    args = parse(argv)
    import keras
    import tensorflow as tf

    print("== probe overhead: fit() with kmon's alarms at the default rate vs without")
    print(
        f"machine: nproc {os.cpu_count()} · Python {sys.version.split()[0]} · "
        f"TF {tf.__version__} · Keras {keras.__version__}"
    )
    if args.workload == "mlp":
        model, x, y = mlp_workload(args.samples * 8)
        what = f"MLP 32-64-64-1 on {len(x)} rows"
    else:
        model, x, y = workload(args.samples)
        what = f"LSTM(16) on {len(x)} windows of 24"
    steps = -(-len(x) // 32)
    print(f"workload: {what}, batch 32: {steps} steps × {args.epochs} epochs per fit")
    # Warm-up: compiles train_function, then the probes' predict and gradient
    # functions (the first gradient probe waits until 2.5 s of training paid for it).
    plain, _ = timed_fit(model, x, y, args.epochs, False, 0)
    warm, probe = timed_fit(model, x, y, args.epochs, True, 1)
    one_time = probe.predictions.one_time
    for _ in range(4):
        if probe.gradients is None or probe.gradients.calls or args.quick:
            break
        _, probe = timed_fit(model, x, y, args.epochs, True, 1)
    if probe.gradients is not None:
        one_time += probe.gradients.one_time
    print(
        f"warm-up: plain {plain:.2f}s, probed {warm:.2f}s; the probes' one-time compile "
        f"{one_time:.3f}s (not in the pairs below)"
    )

    ratios, shares, after_shares = [], [], []
    for pair in range(args.pairs):
        order = (True, False) if pair % 2 == 0 else (False, True)
        times = {}
        for probed in order:
            times[probed], callback = timed_fit(model, x, y, args.epochs, probed, 2 + pair)
            if probed:
                probe = callback
        ratio = times[True] / times[False]
        ratios.append(ratio)
        budgets = [b for b in (probe.predictions, probe.gradients) if b is not None]
        after = sum(b.after for b in budgets)
        inside = sum(b.charged + b.one_time for b in budgets) - after
        shares.append(inside / times[True])
        after_shares.append(after / times[True])
        grads = probe.gradients
        print(
            f"pair {pair + 1}: probed {times[True]:.3f}s, plain {times[False]:.3f}s, "
            f"ratio {ratio:.4f} · prediction probes {probe.predictions.calls} "
            f"({probe.predictions.charged * 1000:.0f} ms charged), gradient probes "
            f"{grads.calls if grads else 0} ({(grads.charged if grads else 0) * 1000:.0f} ms)"
            f" · of which for the steps after them {after * 1000:.0f} ms"
        )
    median = statistics.median(ratios)
    print(
        f"time inside the probes, measured around each call: "
        f"{100 * statistics.mean(shares):.2f}% of probed fit() time (mean of {len(shares)} fits); "
        f"the steps after them ran {100 * statistics.mean(after_shares):.2f}% slower "
        "(charged to the probes' budget)"
    )
    pairs = list(zip(cpu_seconds[True][-len(ratios) :], cpu_seconds[False][-len(ratios) :]))
    cpu_ratio = statistics.median(probed / plain for probed, plain in pairs)
    print(f"CPU-time ratio (median of {len(pairs)} pairs): {cpu_ratio:.4f}")
    print(f"ratio (median of {len(ratios)} pairs): {median:.4f}  (goal <= 1.02)")
    return median


if __name__ == "__main__":
    main()
