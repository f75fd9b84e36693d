"""FitCallbacks: kmon's two callbacks behind one Keras entry look at the same
batches as each would alone, on real fits, whichever way it counts."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from kmon.engine.alarms.book import AlarmBook
from kmon.engine.alarms.probe_batch import FitData
from kmon.engine.alarms.probe_callback import ProbeCallback
from kmon.engine.probes import ProbeConfig
from kmon.engine.run.fit_callbacks import NOTHING_DUE, FitCallbacks
from kmon.engine.run.fit_hook import FitHook
from kmon.engine.stop import StopSignal
from kmon.engine.training.callback import KmonCallback

SAMPLES, BATCH = 640, 8


def data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(SAMPLES, 4)).astype("float32")
    return x, (x[:, :1] > 0).astype("float32")


def model():
    keras.utils.set_random_seed(0)
    net = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, activation="sigmoid")])
    net.compile(optimizer="sgd", loss="binary_crossentropy")
    return net


class Looks:
    """Records each part's looks: (the batch, the batch begins it asked to wait)."""

    def __init__(self, part, waits) -> None:
        self.seen: list[tuple[int, int]] = []
        self._look, self._waits = part.look, iter(waits)
        part.look = self

    def __call__(self, batch: int) -> int:
        self._look(batch)  # the real look, for its side effects on the part
        wait = next(self._waits)
        self.seen.append((batch, wait))
        return wait


def parts(events):
    x, y = data()
    monitor = KmonCallback(events.append, 0, samples=SAMPLES, batch_size=BATCH)
    probes = ProbeCallback(
        events.append, 0, AlarmBook(events.append), FitData(x, y, SAMPLES, BATCH),
        config=ProbeConfig(every=3, gradient_every=5),
    )  # fmt: skip
    return monitor, probes


@pytest.mark.parametrize("ends_in_order", [True, False])
def test_each_part_looks_exactly_as_often_as_it_asked(ends_in_order):
    """Over 3 epochs of 80 batches, each part looks at every batch it asked for (its
    waits chosen here, unequal and changing), never between, across epoch ends."""
    events = []
    monitor, probes = parts(events)
    # Looks of each part: the first batch, then after each wait it asked for.
    monitor_looks = Looks(monitor, [1, 1, 7, 30, 2, 64] + [50] * 20)
    probe_looks = Looks(probes, [3, 5, 1, 1, 1, 97] + [11] * 40)
    both = FitCallbacks(monitor, probes, ends_in_order=ends_in_order)
    x, y = data()
    model().fit(x, y, batch_size=BATCH, epochs=3, verbose=0, callbacks=[both])
    steps = 3 * SAMPLES // BATCH
    for looks in (monitor_looks, probe_looks):
        expected, at = [], 0
        for _batch, wait in looks.seen:
            expected.append(at % (SAMPLES // BATCH))
            at += wait
        assert [batch for batch, _ in looks.seen] == expected
        assert at >= steps > at - looks.seen[-1][1]  # no look missed at the end
    batches = [e for e in events if e.type == "batch"]
    assert [(e.epoch, e.step) for e in batches if e.values] == [
        (epoch, step) for epoch in range(3) for step in range(SAMPLES // BATCH)
    ]


def test_between_looks_keras_calls_no_python_at_a_batch_begin():
    """With batch ends in order, the batch begin hook Keras finds is a C no-op at
    every batch where neither part looks, and the look at the others."""
    monitor, probes = parts([])
    monitor_looks = Looks(monitor, [1, 10] + [25] * 10)
    probe_looks = Looks(probes, [4] * 40)
    both = FitCallbacks(monitor, probes, ends_in_order=True)
    found = []

    class Spy(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            found.append(both.on_train_batch_begin == NOTHING_DUE)

    x, y = data()
    model().fit(x, y, batch_size=BATCH, epochs=1, verbose=0, callbacks=[Spy(), both])
    looked = {batch for looks in (monitor_looks, probe_looks) for batch, _ in looks.seen}
    assert looked == {0, 1, 11, 36, 61} | set(range(0, SAMPLES // BATCH, 4))
    assert [not nothing for nothing in found] == [
        batch in looked for batch in range(SAMPLES // BATCH)
    ]


def test_fit_hook_puts_one_kmon_entry_in_keras_list():
    events = []
    hook = FitHook(events.append, StopSignal(), probes=ProbeConfig(every=3))
    hook.install()
    try:
        net = model()
        # A list of the script's own, which kmon fills in place.
        callbacks = keras.callbacks.CallbackList([keras.callbacks.History()], model=net)
        x, y = data()
        net.fit(x, y, batch_size=BATCH, epochs=1, verbose=0, callbacks=callbacks)
    finally:
        hook.uninstall()
    kinds = [type(callback).__name__ for callback in callbacks.callbacks]
    assert kinds == ["History", "FitCallbacks"]
    assert any(e.type == "probes" and e.predictions for e in events)
    assert sum(e.type == "batch" for e in events) == SAMPLES // BATCH
