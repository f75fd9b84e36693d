"""The multi_head_metrics scenario: its variants run, their logs carry the head maps
that answer "4 losses but 2 accuracies", and its explanation is true for Keras 3."""

from __future__ import annotations

import pytest
from scenario_helpers import run_scenario

from kmon.engine.view.head_cells import grid_cell
from kmon.engine.view.head_text import heads_summary, sum_check_text
from kmon.engine.view.state import RunState
from kmon.scenarios import SCENARIOS
from kmon.scenarios.multi_head_metrics import EXPLANATION, FEATURES, TIMESTEPS, data

BCE, SCCE = "binary_crossentropy", "sparse_categorical_crossentropy"


def run_variant(folder, variant: str) -> tuple[list, RunState, float]:
    run = run_scenario(folder, "multi_head_metrics", variant)
    assert run.status == "ok"
    return run.events, run.state, run.seconds


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("multi_head_metrics")
    return {variant: run_variant(folder, variant) for variant in OWN}


def fit_start(events):
    (start,) = [event for event in events if event.type == "fit_start"]
    return start


def test_registered_with_its_variants_first():
    scenario = SCENARIOS["multi_head_metrics"]
    assert list(scenario.variants)[:3] == ["three_heads", "all_metrics", "sequential_pitfall"]
    assert scenario.default_variant == "three_heads"


#: The variants of the scenario's own (the article's examples have their claim tests).
OWN = ("three_heads", "all_metrics", "sequential_pitfall")


def test_three_heads_logs_four_losses_and_two_accuracies(runs):
    events, state, _seconds = runs["three_heads"]
    assert fit_start(events).heads == {
        "sentiment": {
            "loss": BCE,
            "weight": 1.0,
            "metrics": ["sentiment_accuracy"],
            "loss_key": "sentiment_loss",
            "task": "classification",
            "binary": True,
            "from_logits": False,
        },
        "topic": {
            "loss": SCCE,
            "weight": 0.5,
            "metrics": ["topic_accuracy"],
            "loss_key": "topic_loss",
            "task": "classification",
            "binary": False,
            "from_logits": False,
        },
        "intensity_score": {
            "loss": "mse",
            "weight": 2.0,
            "metrics": [],
            "loss_key": "intensity_score_loss",
            "task": "regression",
            "binary": False,
            "from_logits": False,
        },
    }
    history = state.history[-1].logs
    train_keys = [key for key in history if not key.startswith("val_")]
    assert len([key for key in train_keys if key.endswith("loss")]) == 4
    assert len([key for key in train_keys if key.endswith("accuracy")]) == 2
    board = state.heads
    assert heads_summary(board) == (
        "4 losses = total + 3 heads (total = 1.0·sentiment + 0.5·topic + 2.0·intensity_score); "
        "accuracy on 2 heads: sentiment, topic; none on intensity_score (regression: mse)"
    )
    assert grid_cell(board, "intensity_score", "accuracy", "val").note == "not configured"
    # Each batch adds up; History does not, because its last batch is smaller.
    assert board.last_check.holds and board.last_check.batches == 16
    assert board.history_gap.visible
    assert "the last batch had 8 samples, not 32" in sum_check_text(board)


def test_all_metrics_gives_every_head_a_metric(runs):
    events, state, _seconds = runs["all_metrics"]
    heads = fit_start(events).heads
    assert heads["intensity_score"]["metrics"] == ["intensity_score_mae"]
    assert all(entry["metrics"] for entry in heads.values())
    assert heads_summary(state.heads).endswith("every head has a metric")


def test_sequential_pitfall_has_one_chained_head(runs):
    events, state, _seconds = runs["sequential_pitfall"]
    start = fit_start(events)
    assert start.heads == {
        "intensity_score": {
            "loss": "mse",
            "weight": 1.0,
            "metrics": ["mae"],
            "loss_key": None,
            "task": "regression",
            "binary": False,
            "from_logits": False,
        }
    }
    assert set(state.history[-1].logs) == {"loss", "mae", "val_loss", "val_mae"}
    assert heads_summary(state.heads).startswith("1 loss: the total (mse on the only output")


def stacked(keras):
    return keras.Sequential(
        [
            keras.Input((TIMESTEPS, FEATURES)),
            keras.layers.LSTM(4),
            keras.layers.Dense(1, activation="sigmoid"),
            keras.layers.Dense(4, activation="softmax"),
            keras.layers.Dense(1),
        ]
    )


def test_the_explanation_of_the_pitfall_is_what_keras_does():
    import keras

    x, targets = data(64)
    model = stacked(keras)
    # Each Dense feeds the next: the model has a single output, the last layer's.
    assert len(model.outputs) == 1 and model.outputs[0].shape == (None, 1)
    assert model.layers[2].input.shape == (None, 1)

    assert "different structures" in EXPLANATION
    model.compile("adam", loss="mse")
    three = [targets["sentiment"], targets["topic"], targets["intensity_score"]]
    with pytest.raises(ValueError, match="y_true and y_pred have different structures"):
        model.fit(x, three, epochs=1, verbose=0)

    assert "applies all three to that one output" in EXPLANATION
    model = stacked(keras)
    model.compile("adam", loss=["mse", "mae", "huber"])
    history = model.fit(x, targets["intensity_score"], epochs=1, verbose=0).history
    assert set(history) == {"loss", "mse_loss", "mae_loss", "huber_loss"}
