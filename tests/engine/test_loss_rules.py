"""The overfitting and unstable-training rules on numbers alone: when they raise and
clear, what a single outlier batch does, per-batch losses recovered from Keras's
running means, and the per-batch cost. No Keras here: tests/engine/test_loss_alarms.py
trains real models."""

from __future__ import annotations

import math
import random
import time

import pytest

from kmon.engine.alarms.advice import ADVICE
from kmon.engine.alarms.book import AlarmBook
from kmon.engine.alarms.epoch_watch import EpochWatch, watched_losses
from kmon.engine.alarms.kinds import CLEARED, OVERFITTING, RAISED, UNSTABLE_TRAINING
from kmon.engine.alarms.loss_rules import RISING, SPIKES, OverfitRule, SpikeCounter, UnstableRule
from kmon.engine.alarms.messages import alarm_line

# -- overfitting ---------------------------------------------------------------------------


def overfit_transitions(rule, vals, trains=None):
    trains = trains or [1.0 - 0.05 * i for i in range(len(vals))]
    out = []
    for epoch, (val, train) in enumerate(zip(vals, trains)):
        transition, evidence = rule.update(epoch, val, train)
        if transition:
            out.append((epoch, transition, evidence))
    return out


def test_overfitting_raises_on_the_third_epoch_above_the_best():
    vals = [0.616, 0.617, 0.604, 0.621, 0.629, 0.652, 0.681, 0.718]
    ((epoch, transition, evidence),) = overfit_transitions(OverfitRule(), vals)
    # Best at epoch index 2; three epochs later the rise beats the tolerance.
    assert (epoch, transition) == (5, RAISED)
    assert evidence["best"] == 0.604 and evidence["best_epoch"] == 3
    assert evidence["epochs_since_best"] == 3
    assert evidence["rise"] == pytest.approx(0.652 - 0.604)
    # Tolerance: 2x the median absolute change over the last 6 changes.
    changes = sorted(abs(b - a) for a, b in zip(vals[:5], vals[1:6]))
    assert evidence["typical_change"] == pytest.approx(changes[2])
    assert evidence["tolerance"] == pytest.approx(max(2 * changes[2], 0.01 * 0.604))
    assert evidence["train_loss"] < evidence["train_loss_at_best"]


def test_a_rise_within_the_noise_is_not_overfitting():
    """val_loss that wanders by about 0.03 an epoch: 3 epochs above the best by
    less than twice that is noise."""
    vals = [1.00, 0.97, 1.00, 0.96, 0.99, 1.00, 0.98, 1.01, 0.99]
    assert overfit_transitions(OverfitRule(), vals) == []


def test_no_overfitting_while_the_training_loss_rises_too():
    vals = [0.6, 0.5, 0.55, 0.6, 0.65, 0.7]
    trains = [0.6, 0.5, 0.55, 0.6, 0.65, 0.7]
    assert overfit_transitions(OverfitRule(), vals, trains) == []


def test_a_tiny_rise_stays_under_the_relative_floor():
    """A flat val_loss (no noise to speak of) creeping up by 0.1% an epoch."""
    vals = [1.0, 0.9, 0.8] + [0.8 + 0.0008 * i for i in range(1, 9)]
    assert overfit_transitions(OverfitRule(), vals) == []


def test_overfitting_clears_back_near_the_best_with_hysteresis():
    rule = OverfitRule()
    vals = [0.6, 0.5, 0.55, 0.6, 0.65, 0.6, 0.56, 0.52]
    found = [(e, t) for e, t, _ in overfit_transitions(rule, vals)]
    # Raised 0.15 above the best, beyond the tolerance 0.1 (2x the typical change
    # 0.05); 0.6 and 0.56 are not yet back within half of it (0.05) of 0.5.
    assert found == [(4, RAISED), (7, CLEARED)]


def test_non_finite_losses_are_skipped():
    vals = [0.6, 0.5, math.nan, 0.6, 0.65, 0.7]
    assert [(e, t) for e, t, _ in overfit_transitions(OverfitRule(), vals)] == [(5, RAISED)]


def test_an_inherited_alarm_clears_only_near_its_best():
    rule = OverfitRule()
    rule.inherit({"best": 0.5, "tolerance": 0.05, "best_epoch": 2, "train_loss_at_best": 0.4})
    assert rule.active
    assert rule.update(10, 0.6, 0.2)[0] is None  # a new fit's first epoch: not its best
    transition, evidence = rule.update(11, 0.52, 0.2)
    assert transition == CLEARED and evidence["best"] == 0.5


# -- spikes ----------------------------------------------------------------------------------


def noisy(count, level=1.0, seed=0):
    rng = random.Random(seed)
    return [level * (0.8 + 0.4 * rng.random()) for _ in range(count)]


def test_a_single_outlier_batch_is_no_cluster():
    counter = SpikeCounter()
    for value in noisy(100):
        counter.add(value)
    counter.add(50.0)
    for value in noisy(100, seed=1):
        counter.add(value)
    assert counter.epoch_spikes == 1 and not counter.clustered


def test_three_spikes_within_the_window_cluster():
    counter = SpikeCounter()
    for value in noisy(40):
        counter.add(value)
    for value in (30.0, 1.0, 25.0, 1.0, 1.0, 40.0):
        counter.add(value)
    assert counter.clustered and counter.epoch_spikes == 3
    assert counter.largest == 40.0 and 0.8 < counter.largest_median < 1.2


def test_spikes_far_apart_are_no_cluster():
    counter = SpikeCounter()
    for value in noisy(40):
        counter.add(value)
    for _ in range(3):
        counter.add(30.0)
        for value in noisy(70):
            counter.add(value)
    assert counter.epoch_spikes == 3 and not counter.clustered


def test_no_judgment_before_a_median_nor_of_negative_losses():
    counter = SpikeCounter()
    for value in (1.0, 100.0, 100.0, 100.0):  # no median yet
        counter.add(value)
    assert counter.epoch_spikes == 0
    negative = SpikeCounter()
    for value in [-0.9] * 40 + [0.5] * 5:  # a cosine-similarity loss is negative
        negative.add(value)
    assert negative.epoch_spikes == 0


def test_a_loss_near_zero_does_not_spike_against_where_it_started():
    """Once the loss fell by orders of magnitude, a batch 10x the median is still
    under 5% of the fit's highest running median."""
    counter = SpikeCounter()
    for value in [2.0] * 16 + [0.001] * 64 + [0.02, 0.03, 0.02]:
        counter.add(value)
    assert counter.epoch_spikes == 0
    for value in (0.5, 0.6, 0.7):
        counter.add(value)
    assert counter.clustered


# -- unstable training -------------------------------------------------------------------------


def epoch_of(rule, values, loss):
    for value in values:
        rule.spikes.add(value)
    return rule.epoch_end(loss)


def test_spikes_raise_when_the_epoch_loss_rose():
    rule = UnstableRule()
    assert epoch_of(rule, noisy(32, 0.1), 0.1) == (None, {})
    spiky = noisy(10, 0.1) + [2.0, 0.1, 3.0, 0.1, 2.5] + noisy(10, 0.1)
    transition, evidence = epoch_of(rule, spiky, 0.3)
    assert transition == RAISED
    assert evidence["cause"] == SPIKES and evidence["spikes"] == 3
    assert evidence["largest"] == 3.0 and evidence["epoch_loss"] == 0.3
    assert evidence["previous_epoch_loss"] == 0.1


def test_spikes_in_an_epoch_whose_loss_still_fell_are_healthy():
    """Hard samples in tiny batches: spikes, but the epoch loss keeps falling."""
    rule = UnstableRule()
    epoch_of(rule, noisy(32, 0.1), 0.1)
    spiky = noisy(10, 0.1) + [2.0, 0.1, 3.0, 0.1, 2.5] + noisy(10, 0.1)
    assert epoch_of(rule, spiky, 0.09) == (None, {})


def test_spikes_near_a_loss_of_zero_are_the_runs_own_noise():
    """A classifier near a loss of zero: its batch losses spike in clusters and its
    epoch loss doubles and halves by itself, by little against where it started."""
    rule = UnstableRule()
    spiky = noisy(10, 0.01) + [0.2, 0.01, 0.3, 0.01, 0.25] + noisy(10, 0.01)
    for loss in (0.7, 0.2, 0.05, 0.012):
        assert epoch_of(rule, noisy(32, loss), loss) == (None, {})
    assert epoch_of(rule, spiky, 0.010) == (None, {})  # a cluster, the loss fell
    assert epoch_of(rule, spiky, 0.021) == (None, {})  # doubled: by 1.6% of 0.7
    transition, evidence = epoch_of(rule, spiky, 0.2)  # by a quarter of it
    assert transition == RAISED and evidence["loss_scale"] > 0.7  # the running median


def test_spikes_that_cost_the_next_epoch_raise_there():
    """SGD too fast: spikes at an epoch's end, the loss up in the next."""
    rule = UnstableRule()
    for loss in (1.0, 0.2, 0.05):
        epoch_of(rule, noisy(32, loss), loss)
    spiky_end = noisy(25, 0.05) + [0.6, 0.8, 0.9, 1.2, 1.0, 0.9, 1.1]
    assert epoch_of(rule, spiky_end, 0.051) == (None, {})  # barely rose
    transition, evidence = epoch_of(rule, noisy(32, 0.25), 0.25)
    assert transition == RAISED and evidence["cause"] == SPIKES
    assert evidence["largest"] == 1.2 and evidence["previous_epoch_loss"] == 0.051


def test_a_rise_that_is_small_against_the_loss_scale_is_noise():
    """Near zero, epoch losses of 0.004, 0.005, 0.006, 0.013 rise 3 times to 3x the
    lowest, by 1.3% of where the loss started (0.7): not instability."""
    rule = UnstableRule()
    losses = (0.7, 0.1, 0.02, 0.004, 0.005, 0.006, 0.013)
    assert [rule.epoch_end(loss)[0] for loss in losses] == [None] * 7
    assert rule.scale == 0.7


def test_the_loss_scale_carries_over_to_the_models_next_fit():
    class Model:  # any weakly referenceable object stands for the model
        pass

    model, book = Model(), AlarmBook(lambda event: None)
    first = EpochWatch(book, 0)
    first.begin(model, per_batch=True)
    for epoch, loss in enumerate((0.7, 0.1, 0.02)):
        first.epoch_end(epoch, {"loss": loss}, None)
    second = EpochWatch(book, 1)
    second.begin(model, per_batch=True)
    assert second._unstable.scale == 0.7
    third = EpochWatch(book, 2)
    third.begin(Model(), per_batch=True)
    assert third._unstable.scale == 0.0


def test_a_rising_epoch_loss_raises_and_calm_epochs_clear():
    rule = UnstableRule()
    losses = [1.0, 0.5, 0.55, 0.7]
    found = [(i, rule.epoch_end(loss)) for i, loss in enumerate(losses)]
    (index, (transition, evidence)), = [(i, f) for i, f in found if f[0]]
    assert (index, transition) == (3, RAISED)
    assert evidence["cause"] == RISING and evidence["epoch_losses"] == [0.5, 0.55, 0.7]
    assert evidence["above_lowest"] == pytest.approx(1.4)
    assert rule.epoch_end(0.6) == (None, {})  # one calm epoch
    assert rule.epoch_end(0.62)[0] == CLEARED  # within 5% of the previous: calm


def test_a_small_rise_is_not_unstable():
    rule = UnstableRule()
    assert [rule.epoch_end(loss)[0] for loss in (1.0, 0.5, 0.51, 0.52, 0.53)] == [None] * 5


def test_nan_epochs_are_left_to_nan_loss():
    rule = UnstableRule()
    assert [rule.epoch_end(v)[0] for v in (1.0, 0.5, 0.6, math.nan, 0.9, 1.0)] == [None] * 6


# -- per-batch losses from running means -------------------------------------------------------


def running_means(values, sizes):
    total = seen = 0.0
    means = []
    for value, size in zip(values, sizes):
        total += value * size
        seen += size
        means.append(total / seen)
    return means


class Recording(SpikeCounter):
    def __init__(self):
        super().__init__()
        self.values = []

    def add_all(self, values):
        values = list(values)
        self.values.extend(values)
        super().add_all(values)


def watch(**kwargs):
    watcher = EpochWatch(AlarmBook(lambda event: None), 0, **kwargs)
    watcher._unstable.spikes = Recording()
    return watcher


def test_batch_losses_are_recovered_from_sample_weighted_running_means():
    values, sizes = [2.0, 1.0, 3.0, 0.5], [32, 32, 32, 4]
    watcher = watch(samples=100, batch_size=32)
    watcher.epoch_begin()
    for step, mean in enumerate(running_means(values, sizes)):
        watcher.batch_end(step, mean)
    assert watcher._unstable.spikes.values == pytest.approx(values)


def test_without_sizes_a_short_last_batch_reads_closer_to_the_mean():
    """A dataset's batch sizes are unknown: equal sizes are assumed, and a short last
    batch's own loss is pulled towards the epoch's mean, never further from it."""
    values, sizes = [1.0] * 31 + [10.0], [32] * 31 + [8]
    watcher = watch()
    watcher.epoch_begin()
    for step, mean in enumerate(running_means(values, sizes)):
        watcher.batch_end(step, mean)
    recovered = watcher._unstable.spikes.values
    assert recovered[:31] == pytest.approx([1.0] * 31)
    assert 1.0 < recovered[-1] < 10.0


def test_an_overtaken_hook_still_gives_a_true_mean():
    """Asynchronous batch-end hooks may come out of order: a later step's hook that
    came first reads the mean over both steps; the late one is dropped."""
    values = [1.0, 3.0, 5.0, 7.0]
    means = running_means(values, [10] * 4)
    watcher = watch(samples=40, batch_size=10)
    watcher.epoch_begin()
    for step in (0, 2, 1, 3):
        watcher.batch_end(step, means[step])
    assert watcher._unstable.spikes.values == pytest.approx([1.0, 4.0, 7.0])


def test_a_custom_train_step_is_not_judged_per_batch():
    watcher = watch(per_batch=False)
    watcher.epoch_begin()
    watcher.batch_end(0, 1.0)
    assert watcher._unstable.spikes.values == []


def test_per_batch_cost_is_a_few_microseconds():
    """The per-batch path: a tuple, a few float operations, a deque append and a
    median of 32 values every 8 batches."""
    watcher = EpochWatch(AlarmBook(lambda event: None), 0, samples=10**9, batch_size=32)
    rng = random.Random(0)
    values = [1.0 + rng.random() for _ in range(100_000)]
    means = running_means(values, [32] * len(values))
    watcher.epoch_begin()
    started = time.perf_counter_ns()
    for step, mean in enumerate(means):
        watcher.batch_end(step, mean)
    per_batch_us = (time.perf_counter_ns() - started) / len(means) / 1000
    print(f"EpochWatch.batch_end: {per_batch_us:.2f} us/batch")
    assert per_batch_us < 20  # ~1.4 us measured on 2 shared cores


# -- the watch: which losses, which alarms ------------------------------------------------------


HEADS = {
    "a": {"loss": "mse", "loss_key": "a_loss"},
    "b": {"loss": "binary_crossentropy", "loss_key": "b_loss"},
}


def test_watched_losses():
    logs = {"loss": 1, "val_loss": 1, "a_loss": 1, "val_a_loss": 1, "b_loss": 1, "val_b_loss": 1}
    assert watched_losses(logs, HEADS) == [
        ("a", "val_a_loss", "a_loss"),
        ("b", "val_b_loss", "b_loss"),
    ]
    assert watched_losses({"loss": 1, "val_loss": 1}, {"out": {"loss_key": None}}) == [
        (None, "val_loss", "loss")
    ]
    assert watched_losses({"loss": 1}, HEADS) == []  # no validation this epoch


def test_a_head_overfits_alone_and_its_alarm_names_it():
    events = []
    watcher = EpochWatch(AlarmBook(events.append), 0)
    a_vals = [1.0, 0.8, 0.7, 0.65, 0.6, 0.58]
    b_vals = [0.7, 0.6, 0.62, 0.66, 0.7, 0.75]
    for epoch, (a, b) in enumerate(zip(a_vals, b_vals)):
        train = 1.0 - 0.1 * epoch
        logs = {"loss": 2 * train, "val_loss": a + b, "a_loss": train, "val_a_loss": a}
        logs |= {"b_loss": train, "val_b_loss": b}
        watcher.epoch_end(epoch, logs, HEADS)
    (alarm,) = events
    assert (alarm.kind, alarm.subject, alarm.state, alarm.epoch) == (OVERFITTING, "b", RAISED, 4)
    assert alarm.evidence["metric"] == "val_b_loss"
    assert alarm.message.startswith("head b: val_b_loss rose from its best, 0.6000 at epoch 2")
    line = alarm_line(alarm, 5)
    assert line.startswith("alarm raised: overfitting b [warning] (epoch 5): head b")


def test_unstable_alarm_through_the_book_and_its_line():
    events = []
    watcher = EpochWatch(AlarmBook(events.append), 0)
    losses = [1.0, 0.5, 0.6, 0.8, 0.7, 0.7]
    for epoch, loss in enumerate(losses):
        watcher.epoch_end(epoch, {"loss": loss}, None)
    raised, cleared = events
    assert (raised.kind, raised.state, raised.epoch) == (UNSTABLE_TRAINING, RAISED, 3)
    assert raised.step is None  # decided at the epoch's end
    assert raised.message == (
        "the training loss rose for 2 epochs in a row (0.5000, 0.6000, 0.8000), "
        "to 1.6000x its lowest (0.5000; its highest so far: 1.0000), without becoming NaN"
    )
    assert (cleared.state, cleared.epoch) == (CLEARED, 5)
    assert "no loss spike and no rise for 2 epochs" in cleared.message


def test_both_kinds_have_advice():
    for kind in (OVERFITTING, UNSTABLE_TRAINING):
        assert ADVICE[kind].causes and ADVICE[kind].fixes
    assert any("EarlyStopping" in fix for fix in ADVICE[OVERFITTING].fixes)
    unstable = " ".join(ADVICE[UNSTABLE_TRAINING].fixes)
    assert "learning rate" in unstable and "clipnorm" in unstable
