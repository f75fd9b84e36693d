"""Why a three-headed model logs 4 losses but only 2 accuracies.

Its variants also replay the three code examples of ``000_4aa3bddb73fab038.txt``
(:mod:`.multi_head_examples`); its claims are in :mod:`.multi_head_claims`.
"""

from __future__ import annotations

from . import multi_head_examples
from .base import Scenario
from .multi_head_claims import CLAIMS

SYMPTOM = (
    "An LSTM with three output heads logs loss, sentiment_loss, topic_loss and "
    "intensity_score_loss, but only sentiment_accuracy and topic_accuracy: "
    '"3 losses but 2 accuracies?" And the total loss in History is not exactly '
    "1.0·sentiment_loss + 0.5·topic_loss + 2.0·intensity_score_loss."
)

EXPLANATION = """\
In Keras 3 every output that compile() gives a loss logs its own <output>_loss, and \
the total `loss` is their weighted sum (loss_weights; 1.0 where none is given) plus \
any regularization penalty. Metrics are per output and only where compile(metrics=...) \
asks for them: here the two classifiers get accuracy and the regression head \
intensity_score gets none, so History holds 4 losses (total + 3 heads) but 2 \
accuracies, each also with a val_ twin. For each batch the total equals the weighted \
sum of the head losses; History's epoch values need not, because on TensorFlow Keras \
averages the total over samples but each head's loss over steps, and the epoch's last \
batch is smaller. A Sequential model cannot have three heads: stacking three Dense \
layers chains them, each feeding the next, and only the last one is the model's \
output. Fitting it with three targets fails ("y_true and y_pred have different \
structures"); a list of three losses with one target applies all three to that one \
output. Three heads need the functional API: three Dense layers on the same features."""

LOOK_AT = (
    "The Heads tab (h): one row per head plus the total, loss and each metric for "
    "training and validation, 'not configured' where compile() asked for nothing; "
    "the line above it counts the losses and metrics, the one below checks the total "
    "against the weighted head losses."
)

HEADS = ("sentiment", "topic", "intensity_score")
WEIGHTS = {"sentiment": 1.0, "topic": 0.5, "intensity_score": 2.0}
TIMESTEPS, FEATURES, TOPICS = 12, 6, 4
EPOCHS = 5


def data(samples: int = 610):
    """Synthetic sequences and three targets: a binary label, one of four topics and
    a positive score. 610 samples with ``validation_split=0.2`` leave 488 for
    training: 15 batches of 32 and a last one of 8."""
    import numpy as np

    rng = np.random.default_rng(11)
    x = rng.normal(size=(samples, TIMESTEPS, FEATURES)).astype("float32")
    sentiment = (x[:, :, 0].mean(axis=1) + 0.2 * rng.normal(size=samples) > 0).astype("float32")
    topic = np.argmax(
        x[:, :, 1 : 1 + TOPICS].mean(axis=1) + 0.2 * rng.normal(size=(samples, TOPICS)), axis=1
    )
    intensity = 3.0 * np.abs(x[:, :, 5]).mean(axis=1)
    targets = {
        "sentiment": sentiment[:, None],
        "topic": topic.astype("int32"),
        "intensity_score": intensity[:, None].astype("float32"),
    }
    return x, targets


def train(variant: str) -> None:
    import keras

    keras.utils.set_random_seed(11)
    x, targets = data()
    if variant.startswith("example"):
        multi_head_examples.run(variant, x)
        return
    if variant == "sequential_pitfall":
        model = keras.Sequential(
            [
                keras.Input((TIMESTEPS, FEATURES), name="sequence"),
                keras.layers.LSTM(16, name="encoder"),
                # Meant as three heads; in a Sequential model each Dense feeds the next.
                keras.layers.Dense(1, activation="sigmoid", name="sentiment"),
                keras.layers.Dense(TOPICS, activation="softmax", name="topic"),
                keras.layers.Dense(1, name="intensity_score"),
            ],
            name="stacked_dense",
        )
        model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse", metrics=["mae"])
        y = targets["intensity_score"]
    else:
        inputs = keras.Input((TIMESTEPS, FEATURES), name="sequence")
        features = keras.layers.LSTM(16, name="encoder")(inputs)
        outputs = {
            "sentiment": keras.layers.Dense(1, activation="sigmoid", name="sentiment")(features),
            "topic": keras.layers.Dense(TOPICS, activation="softmax", name="topic")(features),
            "intensity_score": keras.layers.Dense(1, name="intensity_score")(features),
        }
        model = keras.Model(inputs, outputs, name="three_heads")
        metrics = {"sentiment": ["accuracy"], "topic": ["accuracy"]}
        if variant == "all_metrics":
            metrics["intensity_score"] = ["mae"]
        model.compile(
            optimizer=keras.optimizers.Adam(1e-2),
            loss={
                "sentiment": "binary_crossentropy",
                "topic": "sparse_categorical_crossentropy",
                "intensity_score": "mse",
            },
            loss_weights=WEIGHTS,
            metrics=metrics,
        )
        y = targets
    model.fit(x, y, batch_size=32, epochs=EPOCHS, validation_split=0.2)


SCENARIO = Scenario(
    name="multi_head_metrics",
    title="Three heads: 4 losses but 2 accuracies",
    question="My model has three outputs: why do I see 4 losses but only 2 accuracies, "
    "and why is the total loss not the sum of the head losses?",
    variants={
        "three_heads": "functional LSTM, 3 heads: two classifiers with accuracy, a "
        "regression head without a metric",
        "all_metrics": "the same model with mae on the regression head: every head has a metric",
        "sequential_pitfall": "three Dense layers stacked in a Sequential model: one "
        "chained output, not three heads",
        "example1_as_written": "the article's example 1 as printed: a missing comma, a SyntaxError",
        "example1": "example 1 as intended: three heads (functional API), accuracy on the "
        "classifier only",
        "example2_as_written": "the article's example 2 as printed: a Sequential model "
        "with a loss dict fails in fit()",
        "example2": "example 2 as intended: three softmax heads, accuracy on each",
        "example3_as_written": "the article's example 3 as printed: keras.backend.mean "
        "is gone in Keras 3",
        "example3": "example 3 as intended: the custom metric with keras.ops",
    },
    kinds={
        "three_heads": "problem",
        **dict.fromkeys(
            (
                "example1_as_written",
                "example1",
                "example2_as_written",
                "example2",
                "example3_as_written",
                "example3",
            ),
            "example",
        ),
        "sequential_pitfall": "cause",
        "all_metrics": "fix",
    },
    replays={
        "example1_as_written": "000 example 1",
        "example1": "000 example 1",
        "example2_as_written": "000 example 2",
        "example2": "000 example 2",
        "example3_as_written": "000 example 3",
        "example3": "000 example 3",
    },
    claims=CLAIMS,
    explanation=EXPLANATION,
    symptom=SYMPTOM,
    look_at=LOOK_AT,
    train=train,
)
