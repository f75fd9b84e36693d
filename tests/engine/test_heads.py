"""Head maps read from real compiled Keras models, for every form compile() accepts,
and the check that the total loss is the weighted sum of the head losses."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from kmon.engine.head_map import KeyPlace, key_places, place_key
from kmon.engine.training.callback import KmonCallback
from kmon.engine.training.heads import built_head_map, extra_loss_sources, preview_head_map
from kmon.engine.view.head_board import HeadBoard
from kmon.engine.view.head_cells import grid_cell
from kmon.engine.view.head_text import heads_summary, sum_check_text

SAMPLES, BATCH = 40, 16  # 32 training samples after the split: 2 steps of 16
NAMES = ("is_up", "level_loss", "kind")  # underscores, and "loss" inside a head name


def data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(SAMPLES, 4)).astype("float32")
    return x, {
        "is_up": (x[:, :1] > 0).astype("float32"),
        "level_loss": x[:, 1:2] * 2.0,
        # One-hot, so that one loss (mse) can serve every head.
        "kind": np.eye(3, dtype="float32")[(x[:, 2] > 0).astype(int) + (x[:, 3] > 0)],
    }


def three_heads(form: str = "dict", regularizer=None) -> keras.Model:
    inputs = keras.Input((4,))
    hidden = keras.layers.Dense(6, activation="relu", kernel_regularizer=regularizer, name="trunk")(
        inputs
    )
    layers = {
        "is_up": keras.layers.Dense(1, activation="sigmoid", name="is_up"),
        "level_loss": keras.layers.Dense(1, name="level_loss"),
        "kind": keras.layers.Dense(3, activation="softmax", name="kind"),
    }
    outputs = {name: layer(hidden) for name, layer in layers.items()}
    if form == "list":
        outputs = [outputs[name] for name in NAMES]
    return keras.Model(inputs, outputs)


def fit_with_kmon(model, x, y, *, samples=SAMPLES, **fit_kwargs):
    events = []
    split = fit_kwargs.get("validation_split", 0.0)
    callback = KmonCallback(events.append, 0, samples=int(samples * (1 - split)), batch_size=BATCH)
    model.fit(
        x,
        y,
        batch_size=BATCH,
        epochs=1,
        verbose=0,
        shuffle=False,
        callbacks=[callback],
        **fit_kwargs,
    )
    return events


def only(events, kind):
    (event,) = [event for event in events if event.type == kind]
    return event


def board_of(events) -> HeadBoard:
    board = HeadBoard(only(events, "fit_start"))
    for event in events:
        board.apply(event)
    return board


BCE, CCE = "binary_crossentropy", "categorical_crossentropy"
#: What each loss below trains a head for: (task, binary), read from the loss object.
KINDS = {BCE: ("classification", True), CCE: ("classification", False), "mse": ("regression", False)}


def head(loss, weight, metrics=(), loss_key=None):
    task, binary = KINDS.get(loss, (None, False))
    return {
        "loss": loss,
        "weight": weight,
        "metrics": list(metrics),
        "loss_key": loss_key,
        "task": task,
        "binary": binary,
        "from_logits": False,
    }

FORMS = {
    "dict outputs, dict loss, dict weights": (
        "dict",
        {
            "loss": {"is_up": BCE, "level_loss": "mse", "kind": CCE},
            "loss_weights": {"is_up": 1.0, "level_loss": 0.5, "kind": 2.0},
            "metrics": {"is_up": ["accuracy"], "kind": ["accuracy"]},
        },
        {
            "is_up": head(BCE, 1.0, ["is_up_accuracy"], "is_up_loss"),
            "level_loss": head("mse", 0.5, [], "level_loss_loss"),
            "kind": head(CCE, 2.0, ["kind_accuracy"], "kind_loss"),
        },
    ),
    "list outputs, list loss, list weights, custom metric names": (
        "list",
        {
            "loss": [BCE, "mse", CCE],
            "loss_weights": [1.0, 0.5, 2.0],
            "metrics": [["acc"], [keras.metrics.MeanAbsoluteError(name="abs_err")], []],
        },
        {
            "is_up": head(BCE, 1.0, ["is_up_acc"], "is_up_loss"),
            "level_loss": head("mse", 0.5, ["level_loss_abs_err"], "level_loss_loss"),
            "kind": head(CCE, 2.0, [], "kind_loss"),
        },
    ),
    # Keras flattens a dict by sorted key: a list of weights over a dict loss on dict
    # outputs follows is_up, kind, level_loss, not the dict's own order.
    "dict outputs, dict loss, list weights": (
        "dict",
        {
            "loss": {"level_loss": "mse", "is_up": BCE, "kind": CCE},
            "loss_weights": [1.0, 0.5, 2.0],
        },
        {
            "is_up": head(BCE, 1.0, [], "is_up_loss"),
            "level_loss": head("mse", 2.0, [], "level_loss_loss"),
            "kind": head(CCE, 0.5, [], "kind_loss"),
        },
    ),
    "one loss for every head, one float weight": (
        "list",
        {"loss": "mse", "loss_weights": 3.0, "metrics": [["mae"], ["mae"], ["mae", "mae"]]},
        {
            "is_up": head("mse", 3.0, ["is_up_mae"], "is_up_loss"),
            "level_loss": head("mse", 3.0, ["level_loss_mae"], "level_loss_loss"),
            # The same metric twice on one head: Keras numbers the second one.
            "kind": head("mse", 3.0, ["kind_mae", "kind_mae_1"], "kind_loss"),
        },
    ),
    "a head without loss": (
        "dict",
        {"loss": {"is_up": BCE, "kind": CCE}, "metrics": {"level_loss": ["mae"]}},
        {
            "is_up": head(BCE, 1.0, [], "is_up_loss"),
            "level_loss": head(None, None, ["level_loss_mae"]),
            "kind": head(CCE, 1.0, [], "kind_loss"),
        },
    ),
}


@pytest.mark.filterwarnings("ignore:Gradients do not exist")
@pytest.mark.parametrize("form", list(FORMS))
def test_head_map_matches_what_keras_logs(form):
    outputs, compile_kwargs, expected = FORMS[form]
    keras.utils.set_random_seed(0)
    model = three_heads(outputs)
    model.compile(optimizer="sgd", **compile_kwargs)
    x, y = data()
    if outputs == "list":
        y = [y[name] for name in NAMES]
    events = fit_with_kmon(model, x, y, validation_split=0.2)

    # Known before the first step, from Keras's own rules; the model's built
    # containers agree, so value_kinds carries no correction.
    assert only(events, "fit_start").heads == expected
    assert only(events, "value_kinds").heads is None
    assert built_head_map(model) == expected

    # Every key History holds has its place, and every predicted key is logged.
    logged = set(model.history.history)
    places = key_places(expected)
    assert logged <= set(places)
    assert set(places) - logged == set()
    assert place_key("val_kind_loss", places) == KeyPlace("kind", "loss", "val")
    assert place_key("val_loss", places) == KeyPlace(None, "loss", "val")
    if expected["level_loss"]["loss"]:
        assert place_key("level_loss_loss", places) == KeyPlace("level_loss", "loss", "train")
    assert place_key("custom_tracker", places) == KeyPlace(None, "custom_tracker", "train", False)


def test_single_output_models_have_one_head_with_unprefixed_metrics():
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(3), keras.layers.Dense(1, name="score")]
    )
    model.compile("sgd", "mse", metrics=["mae"], loss_weights=2.0)
    x, y = data()
    events = fit_with_kmon(model, x, y["level_loss"])
    heads = {"score": head("mse", 2.0, ["mae"])}
    assert only(events, "fit_start").heads == heads
    board = board_of(events)
    assert heads_summary(board) == (
        "1 loss: the total (mse on the only output, score; Keras logs per-head losses "
        "only for several); metrics: mae"
    )
    assert grid_cell(board, "score", "mae", "train").value == model.history.history["mae"][0]
    assert grid_cell(board, "score", "loss", "train").note == "in total only"


def test_one_loss_with_a_list_of_weights_is_refused_by_keras():
    model = three_heads("list")
    model.compile("sgd", loss="mse", loss_weights=[1.0, 0.5, 2.0])
    x, y = data()
    with pytest.raises(ValueError, match="must match the number of losses"):
        model.fit(x, [y[name] for name in NAMES], epochs=1, verbose=0)


class TwoHeads(keras.Model):
    """A subclassed model: outputs unknown until called, and a compute_loss that
    adds a constant to the total (so the total is not the weighted head sum)."""

    def __init__(self):
        super().__init__()
        self.trunk = keras.layers.Dense(4, activation="relu")
        self.up = keras.layers.Dense(1, activation="sigmoid")
        self.level = keras.layers.Dense(1)

    def call(self, x):
        hidden = self.trunk(x)
        return {"is_up": self.up(hidden), "level_loss": self.level(hidden)}

    def compute_loss(self, *args, **kwargs):
        return super().compute_loss(*args, **kwargs) + 0.25


def test_subclassed_model_heads_arrive_with_value_kinds_and_the_extra_term_is_named():
    keras.utils.set_random_seed(0)
    model = TwoHeads()
    model.compile("sgd", loss={"is_up": BCE, "level_loss": "mse"}, metrics={"is_up": ["accuracy"]})
    x, y = data()
    events = fit_with_kmon(model, x, {k: y[k] for k in ("is_up", "level_loss")})
    start = only(events, "fit_start")
    assert start.heads is None
    assert start.extra_losses == ["TwoHeads.compute_loss (overridden)"]
    assert only(events, "value_kinds").heads == {
        "is_up": head(BCE, 1.0, ["is_up_accuracy"], "is_up_loss"),
        "level_loss": head("mse", 1.0, [], "level_loss_loss"),
    }
    board = board_of(events)
    assert not board.last_check.holds
    assert board.last_check.mean_gap == pytest.approx(0.25, rel=1e-3)
    text = sum_check_text(board)
    assert "the total is 0.2500 above 1.0·is_up + 1.0·level_loss" in text
    assert "TwoHeads.compute_loss (overridden)" in text


def test_per_batch_total_is_the_weighted_head_sum_and_history_is_not():
    keras.utils.set_random_seed(0)
    model = three_heads("dict")
    weights = {"is_up": 1.0, "level_loss": 0.5, "kind": 2.0}
    model.compile(
        "sgd",
        loss={"is_up": BCE, "level_loss": "mse", "kind": CCE},
        loss_weights=weights,
    )
    rng = np.random.default_rng(1)
    x = rng.normal(size=(38, 4)).astype("float32")  # 2 batches of 16, then 6
    y = {
        "is_up": (x[:, :1] > 0).astype("float32"),
        "level_loss": x[:, 1:2] * 2.0,
        "kind": np.eye(3, dtype="float32")[(x[:, 2] > 0).astype(int)],
    }
    events = fit_with_kmon(model, x, y, samples=38)
    batches = [event for event in events if event.type == "batch"]
    assert [event.size for event in batches] == [16, 16, 6]
    for event in batches:
        weighted = sum(w * event.values[f"{name}_loss"] for name, w in weights.items())
        assert event.values["loss"] == pytest.approx(weighted, rel=1e-5)

    board = board_of(events)
    assert board.last_check.holds and board.last_check.batches == 3
    assert board.last_check.worst < 1e-5
    # History: the total is sample-weighted, each head's loss a plain mean over
    # steps, so they do not add up; kmon's numbers reproduce both exactly.
    history = model.history.history
    by_samples = sum(e.size * e.values["loss"] for e in batches) / 38
    by_steps = sum(
        w * sum(e.values[f"{name}_loss"] for e in batches) / 3 for name, w in weights.items()
    )
    assert history["loss"][0] == pytest.approx(by_samples, rel=1e-5)
    gap = board.history_gap
    assert gap.total == history["loss"][0]
    assert gap.weighted == pytest.approx(by_steps, rel=1e-5)
    assert gap.visible and (gap.last_size, gap.largest) == (6, 16)
    text = sum_check_text(board)
    assert text.startswith(
        "Per batch, total = 1.0·is_up + 0.5·level_loss + 2.0·kind holds (3 batches"
    )
    assert "the last batch had 6 samples, not 16" in text


def test_regularizers_are_named_as_the_difference():
    keras.utils.set_random_seed(0)
    model = three_heads("dict", regularizer=keras.regularizers.L2(0.05))
    model.compile("sgd", loss={"is_up": BCE, "level_loss": "mse", "kind": CCE})
    x, y = data()
    events = fit_with_kmon(model, x, y)
    assert only(events, "fit_start").extra_losses == ["trunk.kernel_regularizer"]
    board = board_of(events)
    assert not board.last_check.holds
    # The gap is the L2 penalty of the weights each batch was scored with.
    penalty = float(sum(keras.ops.convert_to_numpy(loss) for loss in model.losses))
    assert board.last_check.mean_gap == pytest.approx(penalty, rel=0.05)
    assert "what no head reports: trunk.kernel_regularizer" in sum_check_text(board)


def test_preview_needs_symbolic_outputs():
    model = TwoHeads()
    model.compile("sgd", loss="mse")
    assert preview_head_map(model) is None
    uncompiled = three_heads("dict")
    assert preview_head_map(uncompiled) is None


def test_an_rnn_regularizer_is_named_once():
    model = keras.Sequential(
        [
            keras.Input((3, 2)),
            keras.layers.LSTM(4, kernel_regularizer="l2", name="encoder"),
            keras.layers.Dense(1, activity_regularizer="l1", name="out"),
        ]
    )
    assert extra_loss_sources(model) == ["encoder.kernel_regularizer", "out.activity_regularizer"]
