"""The training script the benchmarks time: a small MLP on synthetic data, where
the per-batch cost of anything around training shows most (about 1-2 ms a step on
a CPU).

It is an ordinary script (run as ``python _mlp_workload.py`` or under
``kmon train``) configured by environment variables, and it reports its own
``fit()`` wall times to the file named by ``KMON_BENCH_RESULT`` (kmon captures
stdout into its event log, so printing would not reach the benchmark):

- ``KMON_BENCH_RESULT``: JSON Lines file to append results to (required);
- ``KMON_BENCH_STEPS``: steps per epoch of each timed fit (default 1000);
- ``KMON_BENCH_EPOCHS``: epochs per timed fit (default 3); each epoch's time is
  reported too, and the CPU time of the whole process (every thread) during the fit;
- ``KMON_BENCH_REPEATS``: timed fits after the warm-up fit (default 2);
- ``KMON_BENCH_WARMUP_EPOCHS``: epochs of the warm-up fit (default: as a timed fit);
- ``KMON_BENCH_WARMUP_SECONDS``: one-epoch fits follow the warm-up fit until this
  much time has passed since it began (default 4);
- ``KMON_BENCH_VERBOSE``: Keras's ``verbose`` (default 0);
- ``KMON_BENCH_TENSORBOARD``: a log folder: add ``TensorBoard(update_freq="batch")``;
- ``KMON_BENCH_PROBES``: ``0`` turns kmon's training alarms (probes) off;
- ``KMON_BENCH_UNITS``: width of the two hidden layers (default 64: about 1 ms a
  step on a CPU; 384: about 2);
- ``KMON_BENCH_THREAD``: ``1`` runs the script's work in a background thread, as
  ``kmon train`` does, the main thread waiting for it;
- ``KMON_BENCH_GO``: when set, timed fit ``i`` starts only once the file
  ``$KMON_BENCH_GO<i>`` exists, so a benchmark can give several processes turns
  (after the warm-up the script reports ``ready`` and waits).
"""

import json
import os
import sys
import time

import keras
import numpy as np

BATCH = 32
#: A turn that never comes (the benchmark died): give up.
WAIT_SECONDS = 900.0


class EpochTimer(keras.callbacks.Callback):
    """Each epoch's wall time: short windows, so that a benchmark can take medians
    that the machine's brief slow spells (other tenants) do not move."""

    def __init__(self) -> None:
        super().__init__()
        self.async_safe = True  # epoch hooks only; keeps Keras's batch hooks as they were
        self.seconds: list[float] = []
        self._start = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)


def report(**fields) -> None:
    with open(os.environ["KMON_BENCH_RESULT"], "a", encoding="utf-8") as handle:
        handle.write(json.dumps({"t": time.time(), **fields}) + "\n")


def wait_for_turn(path: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            sys.exit(f"no turn given within {WAIT_SECONDS:.0f}s: {path}")
        time.sleep(0.01)


def build(rows: int, units: int = 64):
    """The compiled MLP (32 features, ``units``-``units``-1, binary) and ``rows`` of
    synthetic data; ``probe_overhead.py --workload mlp`` trains the same."""
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(rows, 32)).astype("float32")
    y = (x[:, :4].sum(axis=1, keepdims=True) > 0).astype("float32")
    model = keras.Sequential(
        [
            keras.Input((32,)),
            keras.layers.Dense(units, activation="relu"),
            keras.layers.Dense(units, activation="relu"),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    return model, x, y


def main() -> None:
    steps = int(os.environ.get("KMON_BENCH_STEPS", "1000"))
    epochs = int(os.environ.get("KMON_BENCH_EPOCHS", "3"))
    repeats = int(os.environ.get("KMON_BENCH_REPEATS", "2"))
    verbose = int(os.environ.get("KMON_BENCH_VERBOSE", "0"))
    board = os.environ.get("KMON_BENCH_TENSORBOARD")
    go = os.environ.get("KMON_BENCH_GO")

    if os.environ.get("KMON_BENCH_PROBES") == "0":
        # Under kmon: no training alarms, to tell their cost from the monitor's.
        from kmon.engine.probes import set_probe_config

        set_probe_config(enabled=False)

    model, x, y = build(steps * BATCH, int(os.environ.get("KMON_BENCH_UNITS", "64")))
    epoch_timer = EpochTimer()
    callbacks = [epoch_timer]
    if board:
        callbacks.append(keras.callbacks.TensorBoard(log_dir=board, update_freq="batch"))

    # Warm-up, as long as a timed fit: traces the train step, builds the optimizer
    # and, under kmon, brings the monitor up and lets the training alarms compile
    # their probes (once per model), so the timed fits measure the steady cost.
    # At least 4 s in all: kmon's first gradient probe waits for 2.5 s of training
    # (see ProbeConfig.gradient_first_cost), which a 2,000-step warm-up fit does not
    # reach at 1 ms a step; its compile would then land in the first timed fit.
    warm_epochs = int(os.environ.get("KMON_BENCH_WARMUP_EPOCHS", epochs))
    warm_seconds = float(os.environ.get("KMON_BENCH_WARMUP_SECONDS", "4"))
    warm_start = time.perf_counter()
    model.fit(x, y, batch_size=BATCH, epochs=warm_epochs, verbose=verbose, callbacks=callbacks)
    while time.perf_counter() - warm_start < warm_seconds:
        model.fit(x, y, batch_size=BATCH, epochs=1, verbose=verbose, callbacks=callbacks)
    report(event="ready")
    for repeat in range(repeats):
        if go:
            wait_for_turn(f"{go}{repeat}")
        report(event="fit_begin", repeat=repeat)
        epoch_timer.seconds = []
        start, cpu = time.perf_counter(), time.process_time()
        model.fit(x, y, batch_size=BATCH, epochs=epochs, verbose=verbose, callbacks=callbacks)
        seconds = time.perf_counter() - start
        report(
            event="fit",
            repeat=repeat,
            seconds=seconds,
            cpu=time.process_time() - cpu,
            steps=steps * epochs,
            epochs=epoch_timer.seconds,
        )
    report(event="done")


if __name__ == "__main__":
    if os.environ.get("KMON_BENCH_THREAD") == "1":
        import threading

        worker = threading.Thread(target=main, name="training")
        worker.start()
        worker.join()
    else:
        main()
