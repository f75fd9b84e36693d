"""The probes read the losses off the monitor's batch tapes at their looks, and the
monitor's batch begins run those looks (ProbedMonitor): the same alarms, at the same
steps, as the probes' own batch hooks give, with Keras calling only the monitor.

A real fit drives, side by side, carried probes (a ProbedMonitor's) and plain ones
in Keras's list reading every batch end themselves; each has its own alarm book,
and both must raise the same alarms with the same evidence.
"""

from __future__ import annotations

import math
from collections import deque

import keras
import numpy as np
import pytest

from kmon.engine.alarms.book import AlarmBook
from kmon.engine.alarms.probe_batch import FitData
from kmon.engine.alarms.probe_callback import ProbeCallback
from kmon.engine.alarms.tape_losses import TapeLosses
from kmon.engine.probes import ProbeConfig
from kmon.engine.run.fit_hook import FitHook
from kmon.engine.run.probed_monitor import ProbedMonitor
from kmon.engine.stop import StopSignal

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy")

EVERY = ProbeConfig(every=8, gradient_every=8)
ALARM_KINDS = ("unstable_training", "nan_loss", "no_learning")


def _ends(steps, losses):
    return [(step, 32, {"loss": loss}, 0.0) for step, loss in zip(steps, losses)]


def test_losses_come_once_each_in_order_across_shipped_and_open_lists():
    shipped: deque[list] = deque()
    open_list: list = []
    current = [None]
    bad: list = []

    class Losses:
        due: deque = deque()
        not_finite = staticmethod(lambda step, loss: bad.append((step, loss)))
        settle = None

    finite = Losses.due
    tapes = TapeLosses(shipped, lambda: current[0], Losses)
    shipped.append(_ends([0], [1.0]))  # the first dispatch, one batch at a time
    current[0] = open_list
    open_list += _ends([1, 2], [2.0, 3.0])
    tapes.take()
    open_list += _ends([3], [math.nan])
    tapes.take()
    open_list += _ends([4, 5], [5.0, "not a float"])
    shipped.append(open_list)  # the open list ships, a new one opens
    current[0] = fresh = _ends([6], [6.0])
    tapes.take()
    tapes.take()  # nothing new: nothing twice
    fresh += _ends([7], [math.inf])
    current[0] = None
    shipped.append(fresh)
    tapes.take()
    assert list(finite) == [(0, 1.0), (1, 2.0), (2, 3.0), (4, 5.0), (6, 6.0)]
    assert [s for s, _ in bad] == [3, 7]


def test_finite_losses_whose_sum_overflows_and_float_subclasses_are_still_finite():
    bad: list = []

    class Losses:
        due: deque = deque()
        not_finite = staticmethod(lambda step, loss: bad.append((step, loss)))
        settle = None

    current = [_ends([0, 1, 2], [1e308, 1e308, np.float64(2.0)])]
    current[0].append((3, 32, None, 0.0))  # a batch end without logs
    TapeLosses(deque(), lambda: current[0], Losses).take()
    assert list(Losses.due) == [(0, 1e308), (1, 1e308), (2, 2.0)]
    assert bad == []


def _regression(rows=1024):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(rows, 8)).astype("float32")
    y = x @ rng.normal(size=(8, 1))
    return x, ((y - y.mean()) / y.std()).astype("float32")


def _side_by_side(
    x, y, *, epochs, config=EVERY, learning_rate=0.5, shuffle=True, tape_losses=True
):
    """One real fit with carried and plain probes: the carried ones, each one's events
    (``tape_losses`` False: carried as on torch and JAX, the monitor's batch end
    calling the probes')."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((8,)), keras.layers.Dense(32, activation="relu"), keras.layers.Dense(1)]
    )
    model.compile(optimizer=keras.optimizers.SGD(learning_rate), loss="mse")
    hosted_events, plain_events, monitor_events = [], [], []
    monitor = ProbedMonitor(
        monitor_events.append, 0, samples=len(x), batch_size=32, batch_tapes=True
    )
    data = FitData(x, y, len(x), 32)

    def probes(events):
        book = AlarmBook(events.append)
        return ProbeCallback(events.append, 0, book, data, config=config)

    hosted = probes(hosted_events)
    monitor.carry(hosted, tape_losses=tape_losses)
    plain = probes(plain_events)
    model.fit(
        x,
        y,
        batch_size=32,
        epochs=epochs,
        verbose=0,
        shuffle=shuffle,
        callbacks=[monitor, plain],
    )
    return hosted, hosted_events, plain_events


def _alarms(events):
    return [
        (e.kind, e.state, e.fit, e.epoch, e.step, e.evidence)
        for e in events
        if e.type == "alarm" and e.kind in ALARM_KINDS
    ]


def test_a_hosted_probe_raises_what_a_plain_one_raises_on_a_spiking_fit():
    hosted, hosted_events, plain_events = _side_by_side(*_regression(), epochs=6)
    plain = _alarms(plain_events)
    assert [a[:2] for a in plain] == [("unstable_training", "raised")]  # the case itself
    assert _alarms(hosted_events) == plain


def test_a_nan_loss_is_raised_at_its_own_step_as_a_plain_probe_raises_it():
    x, y = _regression(640)
    y[100] = np.nan  # batch 3's loss is NaN, and every later one (the weights are)
    hosted, hosted_events, plain_events = _side_by_side(x, y, epochs=2, learning_rate=0.01, shuffle=False)
    plain = _alarms(plain_events)
    assert [(kind, state, step) for kind, state, _, _, step, _ in plain] == [
        ("nan_loss", "raised", 3)
    ]
    assert _alarms(hosted_events) == plain


@pytest.mark.parametrize("stop_on_nan", [False, True])
def test_kmon_train_carries_the_probes_unless_a_nan_must_stop_at_its_batch(
    stop_on_nan, monkeypatch
):
    """As ``kmon train`` hooks fit() (batch tapes on TensorFlow): one kmon callback in
    Keras's list, or the probes apart where ``--stop-on-nan`` needs their batch end;
    a NaN then stops training at its own batch."""
    given = []
    make_list = keras.callbacks.CallbackList.__init__

    def spy(self, callbacks=None, *args, **kwargs):
        given.extend(type(callback).__name__ for callback in callbacks or ())
        make_list(self, callbacks, *args, **kwargs)

    monkeypatch.setattr(keras.callbacks.CallbackList, "__init__", spy)
    x, y = _regression(640)
    y[100] = np.nan
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
    events = []
    config = ProbeConfig(every=8, gradient_every=8, stop_on_nan=stop_on_nan)
    hook = FitHook(events.append, StopSignal(), probes=config, batch_tapes=True)
    hook.install()
    try:
        history = model.fit(x, y, batch_size=32, epochs=2, shuffle=False, verbose=0)
    finally:
        hook.uninstall()
    assert given == (["KmonCallback", "ProbeCallback"] if stop_on_nan else ["ProbedMonitor"])
    raised = [e for e in events if e.type == "alarm" and e.kind == "nan_loss"]
    assert [(e.state, e.step) for e in raised] == [("raised", 3)]
    assert len(history.history["loss"]) == (1 if stop_on_nan else 2)


def test_the_loss_worker_reads_the_losses_while_keras_running_mean_is_finite(monkeypatch):
    """Keras's running mean of the loss stays NaN or infinite once it is, to the
    epoch's end: a look reads one loss a run of batch ends and hands the rest to the
    loss worker, and reads in place only from a run whose last loss is not finite."""
    in_place = []
    read = TapeLosses._hand_on

    def counted(self, ends, start, stop):
        in_place.append([step for step, *_ in ends[start:stop]])
        read(self, ends, start, stop)

    monkeypatch.setattr(TapeLosses, "_hand_on", counted)
    hosted, hosted_events, plain_events = _side_by_side(*_regression(), epochs=6)
    assert in_place == []
    assert _alarms(hosted_events) == _alarms(plain_events)
    x, y = _regression(640)
    y[100] = np.nan  # from batch 3 on
    _side_by_side(x, y, epochs=1, learning_rate=0.01, shuffle=False)
    assert in_place and in_place[0][0] <= 3


@pytest.mark.parametrize("case", ["spiking", "nan"])
def test_probes_carried_with_their_batch_ends_raise_what_plain_ones_raise(case, monkeypatch):
    """As on torch and JAX, whose batch ends come from Keras's pool: the monitor's
    batch end calls the probes', its batch begin their look, and Keras calls the
    probes' hooks not at all."""
    called = []
    for hook in ("on_train_batch_begin", "on_train_batch_end"):
        real = getattr(ProbeCallback, hook)
        monkeypatch.setattr(
            ProbeCallback,
            hook,
            lambda self, batch, logs=None, real=real, hook=hook: (
                called.append((id(self), hook)),
                real(self, batch, logs),
            )[1],
        )
    if case == "spiking":
        x, y, epochs, rate = *_regression(), 6, 0.5
    else:
        x, y = _regression(640)
        y[100] = np.nan
        epochs, rate = 2, 0.01
    hosted, hosted_events, plain_events = _side_by_side(
        x, y, epochs=epochs, learning_rate=rate, shuffle=case == "spiking", tape_losses=False
    )
    assert _alarms(hosted_events) == _alarms(plain_events)
    assert _alarms(plain_events)  # the case raised its alarm
    hosted_calls = [hook for who, hook in called if who == id(hosted)]
    assert hosted_calls == ["on_train_batch_end"] * hosted_calls.count("on_train_batch_end")
    assert len(hosted_calls) == sum(1 for who, _ in called if who != id(hosted)) // 2
