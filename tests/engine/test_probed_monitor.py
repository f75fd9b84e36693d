"""The monitor carrying the probes: a look of the probes alone costs the training
thread no look of the monitor's own, and the learning rate's countdown still counts
every batch."""

from __future__ import annotations

import keras
import numpy as np

from kmon.engine.alarms.book import AlarmBook
from kmon.engine.alarms.probe_batch import FitData
from kmon.engine.alarms.probe_callback import ProbeCallback
from kmon.engine.probes import ProbeConfig
from kmon.engine.run.probed_monitor import ProbedMonitor
from kmon.engine.training.callback import KmonCallback
from kmon.engine.training.learning_rate import LearningRateWatch


def test_a_look_of_the_probes_alone_skips_the_monitors_own_look(monkeypatch):
    own, probed, counted = [], [], []
    own_look, probes_look, due = KmonCallback.look, ProbeCallback.look, LearningRateWatch.due

    def own_counted(self, batch):
        own.append(batch)
        return own_look(self, batch)

    def probes_counted(self, batch):
        probed.append(batch)
        return probes_look(self, batch)

    def due_counted(self, batches=1):
        counted.append(batches)
        result = due(self, batches)
        # The clock paces its looks by the batches' wall time: a stall of a loaded
        # machine (over 0.5 s a batch) asks for every batch, which the monitor then
        # looks at alone, by design. Held off here: this is about the looks the two
        # share.
        self.countdown = max(self.countdown, 2)
        return result

    monkeypatch.setattr(KmonCallback, "look", own_counted)
    monkeypatch.setattr(ProbeCallback, "look", probes_counted)
    monkeypatch.setattr(LearningRateWatch, "due", due_counted)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2400, 4)).astype("float32")
    y = x.sum(axis=1, keepdims=True)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    events = []
    monitor = ProbedMonitor(events.append, 0, samples=len(x), batch_size=8, batch_tapes=True)
    data = FitData(x, y, len(x), 8)
    config = ProbeConfig(every=7, gradient_every=7)
    monitor.carry(ProbeCallback(events.append, 0, AlarmBook(events.append), data, config=config))
    model.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[monitor])

    assert set(probed) - set(own)  # the probes' looks alone: no own look
    assert set(own) <= set(probed)  # and the own looks come at the probes'
    assert len(own) < len(probed)
    # The rate's countdown is handed every batch since the last own look: at each one,
    # the batches counted so far (this one included) are the batches begun.
    assert counted and all(sum(counted[: i + 1]) == batch + 1 for i, batch in enumerate(own))


def test_an_epoch_end_reads_the_learning_rate_once_for_the_monitor_and_the_probes(monkeypatch):
    """The probes' no-learning rule takes the rate the monitor read at the epoch's end
    (each read is a TensorFlow op on the training thread), and sees the rate that
    ReduceLROnPlateau-like callbacks set before kmon's come."""
    import kmon.engine.alarms.baseline_watch as baseline_watch
    from kmon.engine.alarms.learning import LearningRule

    reads, seen = [], []
    read_here, judge = baseline_watch.read_learning_rate, LearningRule.epoch_end

    def counted(model):
        reads.append(model)
        return read_here(model)

    def judged(self, loss, *, trainable, learning_rate):
        seen.append(learning_rate)
        return judge(self, loss, trainable=trainable, learning_rate=learning_rate)

    monkeypatch.setattr(baseline_watch, "read_learning_rate", counted)
    monkeypatch.setattr(LearningRule, "epoch_end", judged)
    x = np.random.default_rng(0).normal(size=(64, 4)).astype("float32")
    y = x.sum(axis=1, keepdims=True)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(0.125), loss="mse")

    class Halve(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            self.model.optimizer.learning_rate.assign(self.model.optimizer.learning_rate / 2)

    events = []
    monitor = ProbedMonitor(events.append, 0, samples=len(x), batch_size=8, batch_tapes=True)
    data = FitData(x, y, len(x), 8)
    monitor.carry(ProbeCallback(events.append, 0, AlarmBook(events.append), data))
    model.fit(x, y, batch_size=8, epochs=3, verbose=0, callbacks=[Halve(), monitor])

    assert reads == []
    assert seen == [0.0625, 0.03125, 0.015625]
    ends = [event.learning_rate for event in events if event.type == "epoch_end"]
    assert ends == seen
    # Alone (not carried), the probes read it themselves.
    alone = ProbeCallback(events.append, 0, AlarmBook(events.append), FitData(x, y, len(x), 8))
    model.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[Halve(), alone])
    assert len(reads) == 1 and seen[-1] == 0.0078125
