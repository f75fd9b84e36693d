"""The training script the benchmarks time: a small MLP on synthetic data, where
the per-batch cost of anything around training shows most (about 1-2 ms a step on
a CPU), or a small CNN on 32x32 synthetic images (a realistic step, 10-30 ms).

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
- ``KMON_BENCH_MODEL``: ``mlp`` (default) or ``cnn`` (:func:`build_cnn`);
- ``KMON_BENCH_TF_THREADS``: TensorFlow's intra-op and inter-op threads (both); set
  before TensorFlow runs its first op by ``_tf_threads/sitecustomize.py`` (on
  ``PYTHONPATH``: ``kmon train`` imports TensorFlow before it runs the script),
  and checked here;
- ``KMON_BENCH_METER``: ``1`` times kmon's hooks, probes and fold from inside
  (``_kmon_meter.install``: costs the training thread a little);
- ``KMON_BENCH_THREAD``: ``1`` runs the script's work in a background thread, as
  ``kmon train`` does, the main thread waiting for it;
- ``KMON_BENCH_PAUSE``: ``1`` (under kmon) holds kmon's monitor and event-log
  threads' work back in every other pair of epochs of a timed fit, in the order
  on, paused, paused, on (``_kmon_meter.install_pause``), and after each epoch
  lets them catch up (``_kmon_meter.caught_up``), then ``KMON_BENCH_CATCH_UP``
  seconds more (default 0.2), before the next one: each fit's ``paused`` lists
  which epochs were, ``caught_up`` whether their work was done in time;
- ``KMON_BENCH_GO``: when set, timed fit ``i`` starts only once the file
  ``$KMON_BENCH_GO<i>`` exists, so a benchmark can give several processes turns
  (after the warm-up the script reports ``ready`` and waits).

Each ``fit`` result carries, besides its times, what ``_kmon_meter`` counted
during it: every thread's CPU time by role and, metered, the hooks' CPU time.
"""

import json
import os
import sys
import threading
import time

import _kmon_meter
import keras
import numpy as np

BATCH = 32
#: A turn that never comes (the benchmark died): give up.
WAIT_SECONDS = 900.0


class EpochTimer(keras.callbacks.Callback):
    """Each epoch's wall time: short windows, so that a benchmark can take medians
    that the machine's brief slow spells (other tenants) do not move; and each
    epoch's steps, from its first batch's begin to its last batch's end.

    The steps leave out what TensorFlow does between epochs: each epoch's data
    iterator is destroyed as the next is made (and the last as ``fit`` returns),
    and that waits for tf.data's autotuning thread to end, which in about a third
    of fits (plain or not) sleeps out its period first: 0.2-0.9 s, more than a
    whole epoch's difference between kmon and plain. They also leave out kmon's
    fit and epoch hooks (this callback's hooks run before kmon's), but for its
    first batch's begin."""

    def __init__(self) -> None:
        super().__init__()
        # On TensorFlow batch ends run in order on the training thread whatever this
        # says; elsewhere (torch, JAX) it keeps Keras's batch ends asynchronous.
        self.async_safe = True
        self.seconds: list[float] = []
        self.steps: list[float] = []
        self.cpu: list[float] = []
        """Each epoch's CPU time of the training thread, its epoch hooks included."""
        self._start = self._first = self._last = self._cpu = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()
        self._cpu = time.thread_time()

    def on_train_batch_begin(self, batch, logs=None):
        if batch == 0:
            self._first = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self._last = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)
        self.steps.append(self._last - self._first)
        self.cpu.append(time.thread_time() - self._cpu)


class PauseKmonThreads(keras.callbacks.Callback):
    """Holds kmon's other threads' work back in epochs 1 and 2 of every 4 (the
    order on, paused, paused, on cancels a drift across the fit), and lets it
    catch up after each epoch, outside the steps ``EpochTimer`` times (its
    ``on_epoch_end`` runs first: it comes first in ``callbacks``)."""

    def __init__(self, catch_up: float) -> None:
        super().__init__()
        self.catch_up = catch_up
        self.paused: list[bool] = []
        self.caught_up: list[bool] = []

    def on_epoch_begin(self, epoch, logs=None):
        _kmon_meter.paused = epoch % 4 in (1, 2)
        self.paused.append(_kmon_meter.paused)

    def on_epoch_end(self, epoch, logs=None):
        # All of an epoch's work done before the next: none spills into it.
        self.caught_up.append(_kmon_meter.caught_up(timeout=10.0))
        time.sleep(self.catch_up)

    def on_train_end(self, logs=None):
        _kmon_meter.paused = False


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


def build_cnn(rows: int):
    """A small CNN (two 3x3 convolutions of 32 and 64 filters, each pooled, a
    64-unit dense layer, 10 classes) and ``rows`` synthetic 32x32 RGB images: a
    realistic step, about 10-30 ms on a CPU, where a fixed per-batch cost weighs
    little."""
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(rows, 32, 32, 3)).astype("float32")
    # A class the images carry: which of 10 bands their top-left patch's mean is in.
    patch = x[:, :8, :8, :].mean(axis=(1, 2, 3))
    y = np.digitize(patch, np.quantile(patch, np.linspace(0.1, 0.9, 9))).astype("int32")
    model = keras.Sequential(
        [
            keras.Input((32, 32, 3)),
            keras.layers.Conv2D(32, 3, activation="relu", padding="same"),
            keras.layers.MaxPooling2D(),
            keras.layers.Conv2D(64, 3, activation="relu", padding="same"),
            keras.layers.MaxPooling2D(),
            keras.layers.Flatten(),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(
        optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"]
    )
    return model, x, y


def tf_threads() -> list[int] | None:
    """TensorFlow's intra-op and inter-op threads as configured (0: its default);
    None when ``KMON_BENCH_TF_THREADS`` is not set. Exits when they differ from it."""
    wanted = os.environ.get("KMON_BENCH_TF_THREADS")
    if not wanted:
        return None
    import tensorflow as tf

    threading_config = tf.config.threading
    found = [
        threading_config.get_intra_op_parallelism_threads(),
        threading_config.get_inter_op_parallelism_threads(),
    ]
    if found != [int(wanted)] * 2:
        sys.exit(f"TensorFlow threads {found}, not {wanted}: is _tf_threads on PYTHONPATH?")
    return found


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

    threads = tf_threads()
    if os.environ.get("KMON_BENCH_METER") == "1":
        _kmon_meter.install()
    if os.environ.get("KMON_BENCH_MODEL", "mlp") == "cnn":
        model, x, y = build_cnn(steps * BATCH)
    else:
        model, x, y = build(steps * BATCH, int(os.environ.get("KMON_BENCH_UNITS", "64")))
    epoch_timer = EpochTimer()
    callbacks = [epoch_timer]
    pauser = None
    if os.environ.get("KMON_BENCH_PAUSE") == "1":
        _kmon_meter.install_pause()
        pauser = PauseKmonThreads(float(os.environ.get("KMON_BENCH_CATCH_UP", "0.2")))
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
    report(event="ready", tf_threads=threads, timer_ns=_kmon_meter.overhead_ns())
    training = threading.get_native_id()
    for repeat in range(repeats):
        if go:
            wait_for_turn(f"{go}{repeat}")
        report(event="fit_begin", repeat=repeat)
        epoch_timer.seconds, epoch_timer.steps, epoch_timer.cpu = [], [], []
        timed = callbacks if pauser is None else [*callbacks, pauser]
        if pauser is not None:
            pauser.paused, pauser.caught_up = [], []
        before = _kmon_meter.snapshot(training)
        start, cpu = time.perf_counter(), time.process_time()
        model.fit(x, y, batch_size=BATCH, epochs=epochs, verbose=verbose, callbacks=timed)
        seconds = time.perf_counter() - start
        cpu = time.process_time() - cpu
        used = _kmon_meter.difference(before, _kmon_meter.snapshot(training))
        report(
            event="fit",
            repeat=repeat,
            seconds=seconds,
            cpu=cpu,
            steps=steps * epochs,
            epochs=epoch_timer.seconds,
            steps_seconds=epoch_timer.steps,
            epochs_cpu=epoch_timer.cpu,
            paused=None if pauser is None else pauser.paused,
            caught_up=None if pauser is None else pauser.caught_up,
            **used,
        )
    report(event="done")


if __name__ == "__main__":
    if os.environ.get("KMON_BENCH_THREAD") == "1":
        worker = threading.Thread(target=main, name="training")
        worker.start()
        worker.join()
    else:
        main()
