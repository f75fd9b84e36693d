"""Per-batch values recovered from Keras's running means match the true loss of each
batch, computed independently with train_on_batch on an identical twin model."""

from __future__ import annotations

import random
import threading

import keras
import numpy as np
import pytest
import tensorflow as tf

from kmon.engine.events import MEAN
from kmon.engine.training.callback import KmonCallback
from kmon.engine.training.metric_kinds import KeyKind
from kmon.engine.training.recovery import BatchValueRecovery

RTOL = 1e-4
SAMPLES, BATCH = 100, 32  # the last batch is partial: 4 samples


def regression_data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(SAMPLES, 5)).astype("float32")
    y = (x @ rng.normal(size=(5, 1)) + 0.1 * rng.normal(size=(SAMPLES, 1))).astype("float32")
    return x, y


def twin_models(build):
    """Two models with the same initial weights and optimizer: one fits, one is the truth."""
    keras.utils.set_random_seed(1)
    first = build()
    second = build()
    second.set_weights(first.get_weights())
    return first, second


def regression_model(**compile_kwargs):
    model = keras.Sequential(
        [keras.Input((5,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(1)]
    )
    compile_kwargs.setdefault("metrics", ["mae", keras.metrics.RootMeanSquaredError()])
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse", **compile_kwargs)
    return model


def fit_with_kmon(model, x, y, **fit_kwargs):
    events = []
    samples = None if isinstance(x, tf.data.Dataset) else len(x)
    callback = KmonCallback(
        events.append,
        0,
        samples=samples,
        batch_size=None if samples is None else fit_kwargs.get("batch_size", BATCH),
        weighting="sample_weight" if fit_kwargs.get("sample_weight") is not None else None,
    )
    model.fit(x, y, verbose=0, shuffle=False, callbacks=[callback], **fit_kwargs)
    return events


def truth_by_batch(model, x, y, epochs, sample_weight=None):
    truth = []
    for _ in range(epochs):
        for start in range(0, len(x), BATCH):
            part = slice(start, start + BATCH)
            weights = None if sample_weight is None else sample_weight[part]
            truth.append(
                model.train_on_batch(x[part], y[part], sample_weight=weights, return_dict=True)
            )
    return truth


def batches(events):
    return [event for event in events if event.type == "batch"]


def assert_close(recovered, expected):
    assert recovered == pytest.approx(expected, rel=RTOL, abs=1e-6)


def test_recovered_values_match_the_true_loss_of_each_batch():
    x, y = regression_data()
    fitted, twin = twin_models(regression_model)
    events = fit_with_kmon(fitted, x, y, batch_size=BATCH, epochs=2)
    truth = truth_by_batch(twin, x, y, epochs=2)
    recorded = batches(events)
    assert [event.size for event in recorded] == [32, 32, 32, 4] * 2
    assert len(recorded) == len(truth)
    for event, expected in zip(recorded, truth):
        for key in ("loss", "mae", "root_mean_squared_error"):
            assert_close(event.values[key], expected[key])
    # The logs themselves are running means, not the batch's loss: they differ.
    assert recorded[1].logs["loss"] != pytest.approx(truth[1]["loss"], rel=1e-3)
    (kinds,) = [event for event in events if event.type == "value_kinds"]
    assert kinds.kinds == {"loss": "mean", "mae": "mean", "root_mean_squared_error": "rms"}


def test_history_is_the_sample_weighted_mean_of_recovered_batch_losses():
    x, y = regression_data()
    model, _ = twin_models(regression_model)
    events = fit_with_kmon(model, x, y, batch_size=BATCH, epochs=1)
    recorded = batches(events)
    mean = sum(e.values["loss"] * e.size for e in recorded) / sum(e.size for e in recorded)
    assert model.history.history["loss"][0] == pytest.approx(mean, rel=RTOL)
    # A plain average of batch losses would overweight the 4-sample last batch.
    plain = sum(e.values["loss"] for e in recorded) / len(recorded)
    assert plain != pytest.approx(mean, rel=RTOL)


def test_sample_weights_keep_the_loss_exact_and_mark_weighted_metrics():
    x, y = regression_data()
    weights = np.linspace(0.1, 2.0, SAMPLES).astype("float32")

    def build():
        return regression_model(metrics=["mae"], weighted_metrics=["mae"])

    fitted, twin = twin_models(build)
    events = fit_with_kmon(fitted, x, y, batch_size=BATCH, epochs=1, sample_weight=weights)
    truth = truth_by_batch(twin, x, y, epochs=1, sample_weight=weights)
    (kinds,) = [event for event in events if event.type == "value_kinds"]
    assert kinds.kinds["loss"] == "mean"
    assert kinds.kinds["mae"] == "mean"  # compiled metrics ignore sample weights
    assert kinds.kinds["weighted_mae"].startswith("not recoverable")
    for event, expected in zip(batches(events), truth):
        assert_close(event.values["loss"], expected["loss"])
        assert_close(event.values["mae"], expected["mae"])
        assert event.values["weighted_mae"] is None


@pytest.mark.parametrize(
    ("per_execution", "dispatches"),
    [
        (2, [((0, 1), (1, 2, 64)), ((2, 3), (3, 2, 36))]),
        (4, [((0, 1, 2, 3), (3, 4, 100))]),
        # The data ends one step into the second dispatch: Keras reports step 5.
        (3, [((0, 1, 2), (2, 3, 96)), ((3,), (3, 1, 4))]),
    ],
)
def test_steps_per_execution_recovers_the_mean_of_each_dispatch(per_execution, dispatches):
    x, y = regression_data()

    def build():
        model = regression_model(metrics=["mae"])
        model.compile(
            optimizer=keras.optimizers.SGD(0.01),
            loss="mse",
            metrics=["mae"],
            steps_per_execution=per_execution,
        )
        return model

    fitted, twin = twin_models(build)
    events = fit_with_kmon(fitted, x, y, batch_size=BATCH, epochs=2)
    truth = truth_by_batch(twin, x, y, epochs=2)
    sizes = [32, 32, 32, 4]
    recorded = batches(events)
    # Two epochs: the second starts from the weights the first left, in both models.
    assert [(e.step, e.span, e.size) for e in recorded] == [shape for _, shape in dispatches] * 2
    for epoch in range(2):
        for event, (steps, _) in zip(recorded[epoch * len(dispatches) :], dispatches):
            batch_truth = [truth[epoch * 4 + i]["loss"] for i in steps]
            expected = sum(v * sizes[i] for v, i in zip(batch_truth, steps)) / sum(
                sizes[i] for i in steps
            )
            assert_close(event.values["loss"], expected)


def test_datasets_of_unknown_batch_sizes_use_the_loss_trackers_count():
    x, y = regression_data()
    fitted, twin = twin_models(lambda: regression_model(metrics=["mae"]))
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(BATCH)
    events = fit_with_kmon(fitted, dataset, None, epochs=1)
    truth = truth_by_batch(twin, x, y, epochs=1)
    recorded = batches(events)
    assert [e.size for e in recorded] == [32, 32, 32, 4]
    for event, expected in zip(recorded, truth):
        assert_close(event.values["loss"], expected["loss"])


def test_metrics_that_are_not_means_are_never_given_a_value():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(SAMPLES, 4)).astype("float32")
    y = (x[:, :1] > 0).astype("float32")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, activation="sigmoid")])
    model.compile("sgd", "binary_crossentropy", metrics=["accuracy", keras.metrics.AUC(name="auc")])
    events = fit_with_kmon(model, x, y, batch_size=BATCH, epochs=1)
    (kinds,) = [event for event in events if event.type == "value_kinds"]
    assert kinds.kinds["auc"] == "not recoverable: AUC is not a running mean"
    assert kinds.kinds["accuracy"] == "mean"
    for event in batches(events):
        assert event.values["auc"] is None
        assert 0.0 <= event.values["accuracy"] <= 1.0
        assert "auc" in event.logs  # the running value is still logged as Keras gave it


def test_multi_output_head_losses_are_recovered_per_head():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(SAMPLES, 4)).astype("float32")
    targets = {
        "class_head": (x[:, :1] > 0).astype("float32"),
        "value_head": x[:, 1:2] * 2.0,
    }

    def build():
        inputs = keras.Input((4,))
        hidden = keras.layers.Dense(6, activation="relu")(inputs)
        outputs = {
            "class_head": keras.layers.Dense(1, activation="sigmoid", name="class_head")(hidden),
            "value_head": keras.layers.Dense(1, name="value_head")(hidden),
        }
        model = keras.Model(inputs, outputs)
        model.compile(
            optimizer=keras.optimizers.SGD(0.01),
            loss={"class_head": "binary_crossentropy", "value_head": "mse"},
            loss_weights={"class_head": 1.0, "value_head": 0.5},
            metrics={"class_head": ["accuracy"]},
        )
        return model

    fitted, twin = twin_models(build)
    events = fit_with_kmon(fitted, x, targets, batch_size=BATCH, epochs=1)
    truth = []
    for start in range(0, SAMPLES, BATCH):
        part = slice(start, start + BATCH)
        batch_targets = {name: value[part] for name, value in targets.items()}
        truth.append(twin.train_on_batch(x[part], batch_targets, return_dict=True))
    (kinds,) = [event for event in events if event.type == "value_kinds"]
    # Keras 3 on TensorFlow weights the total loss by samples but each head's loss
    # by steps (its traced step sees no static batch size): History's head losses
    # are plain means over steps.
    assert kinds.kinds["loss"] == "mean"
    assert kinds.kinds["class_head_loss"] == "step_mean"
    assert kinds.kinds["value_head_loss"] == "step_mean"
    recorded = batches(events)
    for event, expected in zip(recorded, truth):
        for key in ("loss", "class_head_loss", "value_head_loss", "class_head_accuracy"):
            assert_close(event.values[key], expected[key])
    head_values = [event.values["value_head_loss"] for event in recorded]
    history = fitted.history.history["value_head_loss"][0]
    assert history == pytest.approx(sum(head_values) / len(head_values), rel=RTOL)


def test_masked_outputs_make_metrics_unrecoverable_but_not_the_loss():
    x = np.array([[1, 2, 0, 0], [3, 0, 0, 0], [1, 1, 1, 1]] * 20)
    y = (x > 0).astype("float32")[..., None]
    model = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Embedding(5, 3, mask_zero=True),
            keras.layers.LSTM(4, return_sequences=True),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    model.compile("adam", "binary_crossentropy", metrics=["accuracy"])
    events = fit_with_kmon(model, x, y, batch_size=16, epochs=1)
    (kinds,) = [event for event in events if event.type == "value_kinds"]
    assert kinds.kinds["loss"] == "mean"
    assert kinds.kinds["accuracy"].startswith("not recoverable: masked")


def test_a_mask_an_rnn_consumes_leaves_metrics_recoverable():
    # The LSTM returns its last state: no mask reaches the output, so accuracy
    # counts every sample (it said "masked outputs" for any mask_zero layer).
    x = np.array([[1, 2, 0, 0], [3, 0, 0, 0], [1, 1, 1, 1]] * 20)
    y = (x[:, 1] > 0).astype("float32")[:, None]
    model = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Embedding(5, 3, mask_zero=True),
            keras.layers.LSTM(4),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    model.compile("adam", "binary_crossentropy", metrics=["accuracy"])
    events = fit_with_kmon(model, x, y, batch_size=16, epochs=1)
    (kinds,) = [event for event in events if event.type == "value_kinds"]
    assert kinds.kinds == {"loss": "mean", "accuracy": "mean"}
    batches = [event for event in events if event.type == "batch"]
    # Each batch's accuracy is a count of its samples over its size.
    for batch in batches:
        correct = batch.values["accuracy"] * batch.size
        assert correct == pytest.approx(round(correct), abs=1e-3)


def test_out_of_order_dispatch_from_threads_is_put_back_in_order():
    kinds = {"loss": KeyKind(MEAN)}
    recovery = BatchValueRecovery(lambda: kinds)
    true_values = [float(v) for v in np.random.default_rng(0).uniform(0.5, 2.0, size=400)]
    sizes = [8] * 399 + [3]
    running, seen, entries = 0.0, 0, []
    for step, (value, size) in enumerate(zip(true_values, sizes)):
        running = (running * seen + value * size) / (seen + size)
        seen += size
        entries.append((step, size, {"loss": running}))
    random.Random(0).shuffle(entries)
    emitted: list = []

    def worker(part):
        for step, size, logs in part:
            emitted.extend(recovery.add(step, size, logs))

    threads = [threading.Thread(target=worker, args=(entries[i::4],)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(r.step for r in emitted) == list(range(400))
    assert [r.values["loss"] for r in sorted(emitted, key=lambda r: r.step)] == pytest.approx(
        true_values, rel=1e-9
    )


def test_dispatches_wait_in_order_until_the_kinds_can_be_read():
    # Off the training thread the trackers' counts are not settled (the next step
    # and the gradient probe update them): the callback's resolver answers None
    # there, and dispatches wait until a call from the training thread.
    kinds = {"loss": KeyKind(MEAN)}
    on_training_thread = False
    recovery = BatchValueRecovery(lambda: kinds if on_training_thread else None)
    assert recovery.add(1, 4, {"loss": 1.5}) == []
    assert recovery.add(0, 8, {"loss": 1.0}) == []
    on_training_thread = True
    first, second = recovery.ready()
    assert (first.step, second.step) == (0, 1)
    assert first.kinds == kinds and second.kinds is None
    # (8 * 1.0 + 4 * v) / 12 = 1.5
    assert second.values["loss"] == pytest.approx(2.5)
    (third,) = recovery.add(2, 8, {"loss": 1.5})
    assert third.kinds is None and third.values["loss"] == pytest.approx(1.5)
