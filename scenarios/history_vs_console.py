"""Why History's loss differs from the loss you saw on the console.

Its variants also replay the three code examples of ``001_1efe11d93a142f65.txt``
(:mod:`.history_examples`); its claims are in :mod:`.history_claims`.
"""

from __future__ import annotations

from .base import Scenario
from .history_claims import CLAIMS
from .history_examples import ARTICLE_EXAMPLES

SYMPTOM = (
    "The last loss the progress bar printed, the value in model.history, the loss "
    "you get from model.evaluate() on the same training data and val_loss all differ."
)

EXPLANATION = """\
In Keras 3 the loss passed to callbacks and shown by the progress bar is the running \
mean over the epoch so far, weighted by batch size, not the loss of the last batch. \
History records that running mean at the epoch's last batch. Its batches were scored \
by weights that changed after every step, in training mode (dropout active), and \
with class weights applied. evaluate() on the same data uses the final weights, no \
dropout and no class weights, so it gives a different, usually lower, number; \
val_loss is scored the same way on held-out data."""

LOOK_AT = (
    "The Loss tab: the noisy per-batch losses against the smooth running mean; the "
    "chart's History, val_loss and evaluate() lines; the explanation under it, "
    "computed from this run's numbers. After a run, press e: the claims this run "
    "tested, with its numbers."
)


def train(variant: str) -> None:
    if variant in ARTICLE_EXAMPLES:
        ARTICLE_EXAMPLES[variant]()
        return
    import keras
    import numpy as np

    keras.utils.set_random_seed(7)
    rng = np.random.default_rng(7)
    x = rng.normal(size=(3000, 20)).astype("float32")
    signal = x[:, :5].sum(axis=1) + 0.8 * rng.normal(size=3000)
    y = (signal > 1.5).astype("float32")  # about 1 positive in 4: imbalanced
    steady = variant == "steady"
    layers = [keras.Input((20,)), keras.layers.Dense(64, activation="relu")]
    if not steady:
        layers.append(keras.layers.Dropout(0.5))
    layers.append(keras.layers.Dense(1, activation="sigmoid"))
    model = keras.Sequential(layers, name=f"history_vs_console_{variant}")
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3), loss="binary_crossentropy", metrics=["accuracy"]
    )
    positives = float(y.mean())
    model.fit(
        x,
        y,
        batch_size=256 if steady else 16,
        epochs=6,
        validation_split=0.2,
        class_weight={0: 0.5 / (1 - positives), 1: 0.5 / positives},
    )


SCENARIO = Scenario(
    name="history_vs_console",
    title="History's loss differs from the console's",
    question="Why is the loss in model.history not the loss the progress bar showed, "
    "nor what evaluate() gives?",
    variants={
        "noisy": "dropout 0.5, class weights, batches of 16: every number differs",
        "example1": "the article's example 1: a small regression, batches of 10, verbose=2",
        "verbose1": "example 1 with verbose=1: the progress bar instead of one line per epoch",
        "example2": "the article's example 2: random labels, EarlyStopping(patience=3), verbose=2",
        "example3_as_written": "the article's example 3 as printed: class weights as an "
        "array fail in Keras 3",
        "example3": "example 3 as intended: the class weights as a dict {class: weight}",
        "unweighted": "example 3 without class weights, to compare History's loss",
        "steady": "no dropout, batches of 256: the differences shrink (class weights remain)",
    },
    kinds={
        "noisy": "problem",
        **dict.fromkeys(("example1", "example2", "example3_as_written", "example3"), "example"),
        **dict.fromkeys(("verbose1", "unweighted"), "remedy"),
        "steady": "fix",
    },
    replays={
        "example1": "001 example 1",
        "verbose1": "001 example 1",
        "example2": "001 example 2",
        "example3_as_written": "001 example 3",
        "example3": "001 example 3",
        "unweighted": "001 example 3",
    },
    claims=CLAIMS,
    keras_output=frozenset(("example1", "verbose1", "example2", "example3", "unweighted")),
    explanation=EXPLANATION,
    symptom=SYMPTOM,
    look_at=LOOK_AT,
    train=train,
    evaluate_training_data=True,
)
