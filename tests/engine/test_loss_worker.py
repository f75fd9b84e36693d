"""The loss rules' tape is settled off the training thread (the loss worker), and the
watches still see every loss once, in step order, before any judgement.

Unit tests drive :class:`BatchLosses` with recording watches; a real fit (512 steps
an epoch, so its looks hand off) checks that the worker fed the watches and that
the alarms are those of a fit that settled everything on the training thread.
"""

from __future__ import annotations

import math
import threading
import time

import keras
import numpy as np
import pytest

from kmon.engine.alarms.batch_losses import SETTLE_LOSSES, BatchLosses
from kmon.engine.alarms.book import AlarmBook
from kmon.engine.alarms.epoch_watch import EpochWatch
from kmon.engine.alarms.loss_worker import THREAD_NAME, LossWorker, loss_worker
from kmon.engine.alarms.probe_batch import FitData
from kmon.engine.alarms.probe_callback import ProbeCallback
from kmon.engine.probes import ProbeConfig
from kmon.engine.run.probed_monitor import ProbedMonitor

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy")


class Watch:
    """Records each batch of losses it is fed, and the thread that fed it."""

    def __init__(self, delay: float = 0.0, fail: bool = False) -> None:
        self.fed: list[tuple[str, list]] = []
        self._delay, self._fail = delay, fail

    def batch_ends(self, ends):
        time.sleep(self._delay)  # a slow job: settle must wait for it
        if self._fail:
            raise ValueError("a watch failed")
        self.fed.append((threading.current_thread().name, list(ends)))

    batches = batch_ends


def _losses(watch, learning=None, events=None, worker=None):
    book = AlarmBook((events if events is not None else []).append)
    where = lambda step: {"fit": 0, "epoch": 0, "step": step}  # noqa: E731
    return BatchLosses(book, watch, learning or Watch(), where, worker=worker or LossWorker())


def test_a_hand_off_feeds_the_watches_on_the_worker_and_settle_waits_for_it():
    watch = Watch(delay=0.05)
    losses = _losses(watch)
    losses.due.extend([(0, 1.0), (1, 2.0)])
    losses.hand_off()
    assert not losses.due and watch.fed == []  # handed off: the caller did not wait
    losses.due.append((2, 3.0))
    losses.settle()  # waits for the job, then feeds the rest itself, after it
    assert watch.fed == [
        (THREAD_NAME, [(0, 1.0), (1, 2.0)]),
        (threading.current_thread().name, [(2, 3.0)]),
    ]


def test_a_nan_after_a_hand_off_comes_after_the_losses_before_it():
    watch, events = Watch(delay=0.05), []
    losses = _losses(watch, events=events)
    losses.due.extend([(0, 1.0), (1, 2.0)])
    losses.hand_off()
    losses.not_finite(2, math.nan)
    assert [ends for _, ends in watch.fed] == [[(0, 1.0), (1, 2.0)]]
    assert [(e.kind, e.state, e.step) for e in events] == [("nan_loss", "raised", 2)]
    # While nan_loss is active, a look settles in place: its clear comes at that look.
    losses.due.append((3, 4.0))
    losses.hand_off()
    assert watch.fed[-1] == (threading.current_thread().name, [(3, 4.0)])
    assert [(e.kind, e.state, e.step) for e in events][-1] == ("nan_loss", "cleared", 3)


def test_a_watch_that_raises_on_the_worker_raises_at_the_next_settle():
    losses = _losses(Watch(fail=True))
    losses.due.append((0, 1.0))
    losses.hand_off()
    with pytest.raises(ValueError, match="a watch failed"):
        losses.settle()
    losses.settle()  # raised once: the tape goes on


def _spiky_fit(worker: bool, fed_by: set[str], monkeypatch, *, carried: bool = False) -> tuple:
    """A fit of 512 steps an epoch whose loss spikes, with the probes alone (or
    ``carried`` by kmon's monitor, reading its batch tapes): its loss alarms, and
    where its spike counter ended. ``fed_by`` collects the threads that fed the
    spike watch."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(1024, 8)).astype("float32")
    y = x @ rng.normal(size=(8, 1))
    y = ((y - y.mean()) / y.std()).astype("float32")
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((8,)), keras.layers.Dense(32, activation="relu"), keras.layers.Dense(1)]
    )
    model.compile(optimizer=keras.optimizers.SGD(0.13), loss="mse")
    events: list = []
    probes = ProbeCallback(
        events.append,
        0,
        AlarmBook(events.append),
        FitData(x, y, len(x), 2),
        config=ProbeConfig(every=8, gradient_every=8),
    )
    if not worker:
        probes._batch_losses._worker = None
    batch_ends = EpochWatch.batch_ends

    def recorded(self, ends):
        fed_by.add(threading.current_thread().name)
        return batch_ends(self, ends)

    monkeypatch.setattr(EpochWatch, "batch_ends", recorded)
    callbacks: list = [probes]
    if carried:
        monitor = ProbedMonitor(lambda event: None, 0, samples=len(x), batch_size=2, batch_tapes=True)
        monitor.carry(probes)
        callbacks = [monitor]
    model.fit(x, y, batch_size=2, epochs=3, verbose=0, shuffle=False, callbacks=callbacks)
    monkeypatch.setattr(EpochWatch, "batch_ends", batch_ends)
    spikes = probes._losses._unstable.spikes
    alarms = [
        (e.kind, e.state, e.epoch, e.step, e.evidence)
        for e in events
        if e.type == "alarm" and e.kind in ("unstable_training", "no_learning", "nan_loss")
    ]
    return alarms, (spikes.count, list(spikes.recent), spikes.highest, spikes.lowest)


def test_a_real_fit_settles_on_the_worker_and_raises_what_settling_in_place_raises(
    monkeypatch,
):
    assert 1024 // 2 > SETTLE_LOSSES  # the looks hand off within each epoch
    off, in_place = set(), set()
    offloaded = _spiky_fit(True, off, monkeypatch)
    kept = _spiky_fit(False, in_place, monkeypatch)
    assert THREAD_NAME in off and THREAD_NAME not in in_place
    assert [a[:2] for a in kept[0]] == [("unstable_training", "raised")]  # the case
    assert offloaded == kept
    assert kept[1][0] == 3 * 512  # every loss counted


def test_carried_probes_have_the_worker_read_the_monitors_tapes_with_the_same_alarms(
    monkeypatch,
):
    """Carried by the monitor, the probes read one loss a run of batch ends at a look
    (Keras's running mean, finite) and the worker reads the rest: the same alarms
    and spike counter as the probes reading every batch end in place."""
    off, in_place = set(), set()
    carried = _spiky_fit(True, off, monkeypatch, carried=True)
    kept = _spiky_fit(False, in_place, monkeypatch)
    assert THREAD_NAME in off
    assert carried == kept
    assert kept[1][0] == 3 * 512


def test_only_batch_ends_on_the_training_thread_hand_off():
    # Where Keras calls batch ends from its pool (torch, JAX), a NaN settles from a
    # pool thread while the training thread's looks hand off: the tape stays in place.
    assert loss_worker(False) is None
    assert isinstance(loss_worker(True), LossWorker)
