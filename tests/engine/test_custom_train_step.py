"""Per-batch values under a custom ``train_step``: the weighting is read from the
trackers' counts, a value outside its loss's range is never shown, and the
explanation states the weighting that applies.

The data make every batch's true loss known exactly: a zero kernel and a zero
learning rate predict 0 for every sample, the first 192 targets are 1 and the
last 8 are 0, so with batches of 32 each epoch's batch losses are
1, 1, 1, 1, 1, 1, 0 (mse and mae alike).
"""

from __future__ import annotations

import io
import math

import keras
import numpy as np
import pytest
import tensorflow as tf
from event_stream import EventStream
from textual.widgets import Label, Sparkline
from tui_helpers import replayed

from kmon.engine.events import MEAN, STEP_MEAN
from kmon.engine.headless.reporter import HeadlessReporter
from kmon.engine.training import callback as callback_module
from kmon.engine.training.callback import KmonCallback
from kmon.engine.training.metric_kinds import KeyKind, classify_log_keys
from kmon.engine.training.recovery import UNTRACKED, BatchValueRecovery
from kmon.engine.view.explain import explain_epoch
from kmon.engine.view.state import RunState
from kmon.tui.widgets.series_panel import SeriesPanel

SAMPLES, BATCH = 200, 32
TRUE_LOSSES = [1.0] * 6 + [0.0]


class GuideModel(keras.Model):
    """The keras-io guide's first example: every metric named "loss" (the model's
    own loss tracker) gets ``update_state(loss)``, once per step."""

    def train_step(self, data):
        x, y = data
        with tf.GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self.compute_loss(y=y, y_pred=y_pred)
        gradients = tape.gradient(loss, self.trainable_variables)
        self.optimizer.apply(gradients, self.trainable_variables)
        for metric in self.metrics:
            if metric.name == "loss":
                metric.update_state(loss)
            else:
                metric.update_state(y, y_pred)
        return {m.name: m.result() for m in self.metrics}


def guide_model() -> GuideModel:
    inputs = keras.Input((4,))
    outputs = keras.layers.Dense(1, use_bias=False, kernel_initializer="zeros")(inputs)
    model = GuideModel(inputs, outputs)
    model.compile(optimizer=keras.optimizers.SGD(0.0), loss="mse", metrics=["mae"])
    return model


def known_data():
    x = np.random.default_rng(0).normal(size=(SAMPLES, 4)).astype("float32")
    y = np.ones((SAMPLES, 1), "float32")
    y[-8:] = 0.0
    return x, y


def fit_with_kmon(model, x, y, epochs=2, batch_size=BATCH):
    events = []
    arrays = not isinstance(x, tf.data.Dataset)
    callback = KmonCallback(
        events.append,
        0,
        samples=len(x) if arrays else None,
        batch_size=batch_size if arrays else None,
    )
    model.fit(
        x, y, epochs=epochs, batch_size=batch_size if arrays else None, verbose=0,
        shuffle=False, callbacks=[callback],
    )  # fmt: skip
    return events


def of_type(events, name):
    return [event for event in events if event.type == name]


@pytest.fixture(scope="module")
def guide_run():
    x, y = known_data()
    return fit_with_kmon(guide_model(), x, y)


def test_the_guides_loss_tracker_counts_steps_and_is_recovered_exactly(guide_run):
    (kinds,) = of_type(guide_run, "value_kinds")
    # The loss tracker counts steps; the compiled mae, updated by hand with
    # (y, y_pred), still counts samples.
    assert kinds.kinds == {"loss": STEP_MEAN, "mae": MEAN}
    batches = of_type(guide_run, "batch")
    assert [b.values["loss"] for b in batches] == pytest.approx(TRUE_LOSSES * 2, abs=1e-6)
    assert [b.values["mae"] for b in batches] == pytest.approx(TRUE_LOSSES * 2, abs=1e-6)
    # History: a plain mean over steps for the loss, over samples for mae.
    (first_epoch, _) = of_type(guide_run, "epoch_end")
    assert first_epoch.logs["loss"] == pytest.approx(6 / 7, rel=1e-6)
    assert first_epoch.logs["mae"] == pytest.approx(192 / 200, rel=1e-6)


def test_the_explanation_says_each_step_counts_once(guide_run):
    state = RunState()
    state.apply_all(guide_run)
    text = explain_epoch(state.history[0], state.fits[0])
    # (The last batch's 0 comes back as 6e-8: float32 running means.)
    assert "History's loss 0.8571 is the plain mean of this epoch's 7 batch losses (" in text
    assert "every batch counts once whatever its size" in text
    assert "The last batch had 8 samples, not 32, yet counts as much as the others." in text
    assert "weighted by batch size" not in text
    assert "differs by" not in text  # the plain mean of the values is History's loss


@pytest.fixture(scope="module")
def misread_run():
    """The guide's model as kmon read it before the fix: its loss tracker taken
    for a sample-weighted one."""

    def misread(model, **kwargs):
        kinds = classify_log_keys(model, **kwargs)
        loss = kinds["loss"]
        kinds["loss"] = KeyKind(MEAN, loss.reason, loss.low, loss.high)
        return kinds

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(callback_module, "classify_log_keys", misread)
        x, y = known_data()
        return fit_with_kmon(guide_model(), x, y)


def test_a_misread_weighting_is_caught_by_the_guard(misread_run):
    events = misread_run
    batches = of_type(events, "batch")
    losses = [b.values["loss"] for b in batches]
    # Read as sample-weighted, the last batch would be (200·6/7 − 192·1)/8 = −2.57.
    assert losses[:6] == pytest.approx([1.0] * 6)
    assert losses[6:] == [None] * 8
    assert [b.values["mae"] for b in batches] == pytest.approx(TRUE_LOSSES * 2, abs=1e-6)
    (notice,) = of_type(events, "notice")
    assert notice.level == "warning"
    assert notice.text.startswith(
        "loss: the value recovered for step 6 of epoch 0 (fit 0) is -2.571"
    )
    assert "cannot be negative" in notice.text
    assert "not recoverable for the rest of this fit" in notice.text

    out = io.StringIO()
    reporter = HeadlessReporter(out, io.StringIO())
    reporter.handle(events)
    epoch_lines = [line for line in out.getvalue().splitlines() if "· 7 steps" in line]
    assert len(epoch_lines) == 2
    # The first epoch recovered its first 6 losses, not its 7th; the second none.
    assert epoch_lines[0].endswith("batch losses: 1 not recoverable")
    assert epoch_lines[1].endswith("batch losses not recoverable")
    assert reporter.state.unrecovered_batches == 8
    first, second = (explain_epoch(r, reporter.state.fits[0]) for r in reporter.state.history)
    assert "kmon recovered 6 of this epoch's batch losses, but 1 was not recoverable" in first
    assert "per-batch losses were not recoverable" in second


def test_a_dataset_under_a_custom_train_step_gets_no_guessed_sizes():
    # The loss tracker's count is how kmon learns a dataset's batch sizes; under
    # the guide's train_step it counts steps, so every batch would read as size 1.
    # Its loss, a mean over steps, needs no sizes: each step's own value is exact;
    # the compiled mae, a mean over samples, is not recoverable without them.
    x, y = known_data()
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(BATCH)
    events = fit_with_kmon(guide_model(), dataset, None, epochs=1)
    batches = of_type(events, "batch")
    assert len(batches) == 7
    assert all(b.size is None for b in batches)
    assert [b.values["loss"] for b in batches] == pytest.approx(TRUE_LOSSES, abs=1e-6)
    assert all(b.values["mae"] is None for b in batches)
    (kinds,) = of_type(events, "value_kinds")
    assert kinds.kinds["loss"] == STEP_MEAN


class WeightedTracker(keras.Model):
    """Updates the loss tracker with a weight of its own choosing: 2 per step."""

    def train_step(self, data):
        x, y = data
        with tf.GradientTape() as tape:
            loss = self.compute_loss(y=y, y_pred=self(x, training=True))
        self.optimizer.apply(
            tape.gradient(loss, self.trainable_variables), self.trainable_variables
        )
        self._loss_tracker.update_state(loss, sample_weight=2.0)
        return {"loss": self._loss_tracker.result()}


def test_a_tracker_counting_neither_samples_nor_steps_is_not_recoverable():
    inputs = keras.Input((4,))
    model = WeightedTracker(inputs, keras.layers.Dense(1)(inputs))
    model.compile("sgd", "mse")
    x, y = known_data()
    events = fit_with_kmon(model, x, y, epochs=1)
    (kinds,) = of_type(events, "value_kinds")
    assert kinds.kinds["loss"] == (
        "not recoverable: its tracker counted 2 after the first step: "
        "neither its 32 samples nor its 1 step(s)"
    )
    assert all(b.values["loss"] is None for b in of_type(events, "batch"))


# -- the guard on its own: no training ---------------------------------------------------


def running_means(values, sizes):
    """What Keras logs: float32 running means, weighted by ``sizes``."""
    total, seen, means = np.float32(0), 0, []
    for value, size in zip(values, sizes):
        total = np.float32(total + np.float32(value) * np.float32(size))
        seen += size
        means.append(float(np.float32(total / np.float32(seen))))
    return means


def recover(kind, values, sizes):
    recovery = BatchValueRecovery(lambda: {"acc": kind})
    out = []
    for step, (mean, size) in enumerate(zip(running_means(values, sizes), sizes)):
        out.extend(recovery.add(step, size, {"acc": mean}))
    return out


def test_float32_noise_at_the_range_edges_never_trips_the_guard():
    rng = np.random.default_rng(1)
    values = rng.choice([0.0, 1.0], size=2000).tolist()  # accuracies at both edges
    sizes = [32] * 1999 + [5]
    recovered = recover(KeyKind(MEAN, low=0.0, high=1.0), values, sizes)
    assert not any(r.broken for r in recovered)
    assert [r.values["acc"] for r in recovered] == pytest.approx(values, abs=1e-3)


def test_a_range_the_data_breaks_is_dropped_not_enforced():
    # A crossentropy on labels outside [0, 1] is negative: the running mean itself
    # leaves the range, so it does not hold here and values go on unguarded.
    values = [-0.5, 0.2, -0.4, -1.0]
    recovered = recover(KeyKind(MEAN, low=0.0), values, [8] * 4)
    assert not any(r.broken for r in recovered)
    assert [r.values["acc"] for r in recovered] == pytest.approx(values, rel=1e-5)


def test_non_finite_values_pass_the_guard():
    recovered = recover(KeyKind(MEAN, low=0.0), [0.5, math.nan, 0.5], [8] * 3)
    assert not any(r.broken for r in recovered)
    assert math.isnan(recovered[1].values["acc"])


async def test_the_monitor_says_how_many_batch_losses_were_not_recoverable(misread_run):
    stream = EventStream(None).run_start("guide.py").extend(misread_run).run_end()

    async with replayed(stream, (100, 30)) as (app, pilot):
        panel = app.query_one("#batch-values", SeriesPanel)
        stats = str(panel.query_one(".series-stats", Label).content)
        assert stats.endswith("6 batches · 8 not recoverable"), stats
        assert list(panel.query_one(Sparkline).data) == pytest.approx([1.0] * 6)


def test_a_logged_key_no_tracker_is_named_after_is_said_not_recoverable():
    # keras-io's VAE returns {"loss": self.total_loss_tracker.result(), ...} with a
    # tracker named "total_loss": kmon cannot tell what "loss" averages.
    kinds = {"total_loss": KeyKind(MEAN), "kl_loss": KeyKind(MEAN)}
    recovery = BatchValueRecovery(lambda: kinds)
    (first,) = recovery.add(0, 32, {"loss": 1.0, "kl_loss": 0.5})
    assert first.kinds["loss"] == KeyKind(None, UNTRACKED)
    assert first.values == {"loss": None, "kl_loss": 0.5}
