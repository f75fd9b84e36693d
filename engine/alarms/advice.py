"""What each training alarm means for a user: a title, likely causes and fixes.

The decisions are in :mod:`kmon.engine.alarms.rules`; this is the text the Alarms tab
shows beside an active alarm.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from kmon.engine.alarms.kinds import (
    CLASS_COLLAPSE,
    DEAD_UNITS,
    EXPLODING_GRADIENTS,
    NAN_LOSS,
    NO_LEARNING,
    NONFINITE_DATA,
    NOT_LEARNING_YET,
    OVERFITTING,
    PREDICTION_VARIANCE,
    UNSCALED_DATA,
    UNSTABLE_TRAINING,
    VANISHING_GRADIENTS,
)


@dataclass(frozen=True)
class Advice:
    """What an alarm means for a user: a title, likely causes, fixes."""

    title: str
    causes: tuple[str, ...]
    fixes: tuple[str, ...]


ADVICE: dict[str, Advice] = {
    PREDICTION_VARIANCE: Advice(
        "predictions barely vary across inputs",
        (
            "inputs in raw units (hundreds, thousands): tanh/sigmoid units (LSTM and GRU "
            "gates) saturate, so every input gives the same hidden state",
            "targets in raw units: the output layer spends its updates moving the mean, "
            "and predicting the mean is the best constant",
            "learning rate too high or too low; dead ReLUs",
            "too little capacity, or too much regularization (dropout, weight decay)",
        ),
        (
            "standardize inputs and targets: (x - mean) / std with the training set's "
            "statistics, or a keras.layers.Normalization layer; invert the target "
            "scaling on predictions",
            "try a learning rate 3-10x lower (or higher if the loss barely moves)",
            "add capacity, or lower dropout",
        ),
    ),
    VANISHING_GRADIENTS: Advice(
        "gradients vanish before reaching the first layers",
        (
            "saturated tanh/sigmoid units (often from unscaled inputs)",
            "deep stacks of sigmoid/tanh layers; long sequences through a SimpleRNN",
            "dead ReLUs",
        ),
        (
            "standardize the inputs",
            "use ReLU/GELU activations, residual connections, BatchNormalization or "
            "LayerNormalization",
            "LSTM/GRU instead of SimpleRNN for long sequences",
        ),
    ),
    EXPLODING_GRADIENTS: Advice(
        "gradient norms are exploding",
        (
            "learning rate too high",
            "recurrent weights amplifying over long sequences",
            "unscaled targets or inputs",
        ),
        (
            "clip gradients: keras.optimizers.Adam(clipnorm=1.0)",
            "lower the learning rate",
            "standardize inputs and targets",
        ),
    ),
    UNSCALED_DATA: Advice(
        "data is not standardized",
        (
            "raw units (prices, counts, pixel values 0-255) fed straight into the model",
            "features on very different ranges: the large ones dominate the first layer",
        ),
        (
            "standardize inputs: (x - mean) / std per feature with the training set's "
            "statistics, or put a keras.layers.Normalization layer first (adapt it on "
            "the training data)",
            "standardize regression targets too, and invert it on predictions",
            "pixel values: divide by 255 or use keras.layers.Rescaling(1/255)",
        ),
    ),
    NONFINITE_DATA: Advice(
        "NaN or Inf values in the data",
        ("missing values read as NaN", "a division by zero or log(0) in preprocessing"),
        ("drop or impute missing values before fit()", "check with np.isfinite(x).all()"),
    ),
    NO_LEARNING: Advice(
        "the loss is no better than a constant's, and not improving",
        (
            "frozen weights: model.trainable = False (or every layer's), so fit() "
            "updates nothing",
            "a learning rate of 0, or far too small for the optimizer",
            "targets unrelated to the inputs: x and y shuffled or sliced separately, "
            "misaligned windows, a wrong join",
        ),
        (
            "check len(model.trainable_weights) > 0: set trainable = True on the layers "
            "to train, then compile() again (without it, fit() still updates nothing)",
            "use a working learning rate (Adam's default 1e-3), then try 3-10x up or down",
            "shuffle x and y with one permutation (p = np.random.permutation(len(x)); "
            "x[p], y[p]) and look at a few (x, y) pairs",
        ),
    ),
    NOT_LEARNING_YET: Advice(
        "a head learns slowly: not collapsed",
        (
            "early in training: the head's loss already beats the best constant and keeps "
            "gaining, while its predictions have not spread yet",
            "a small learning rate, a weak signal for this head, or a small loss weight "
            "next to the other heads'",
        ),
        (
            "nothing to fix yet: give it epochs, and watch its loss pull away from the "
            "constant's in the Heads tab",
            "if it stays close: raise the head's entry in compile(loss_weights=...) or the "
            "learning rate",
        ),
    ),
    NAN_LOSS: Advice(
        "the loss is NaN or Inf",
        (
            "learning rate too high: the weights diverged",
            "NaN or Inf in the inputs or targets",
            "log(0) or division by zero in a custom loss",
        ),
        (
            "lower the learning rate; clip gradients (clipnorm=1.0)",
            "check the data with np.isfinite",
            "stop wasting time: kmon --stop-on-nan, or keras.callbacks.TerminateOnNaN",
        ),
    ),
    DEAD_UNITS: Advice(
        "ReLU units are dead: they output 0 for every input",
        (
            "a learning rate too high: large updates push the layer's inputs below 0 for "
            "every sample, and a unit there gets no gradient to come back",
            "a large negative bias_initializer, which keeps every unit below 0 from "
            "the start",
        ),
        (
            "lower the learning rate (Adam's default 1e-3, or 3-10x lower)",
            "keep the biases' default zeros initializer",
            'a leaky activation, activation="leaky_relu": a unit below 0 keeps a small '
            "gradient and can come back",
        ),
    ),
    CLASS_COLLAPSE: Advice(
        "the head predicts the majority class for (nearly) every input",
        (
            "imbalanced labels: predicting the majority everywhere already gives a low "
            "loss, and accuracy reads as the majority's share",
            "inputs that tell the classes apart only weakly, or a model that has learned "
            "only the class prior so far",
        ),
        (
            "weigh the classes: fit(..., class_weight={c: n / (classes * n_c)}), which "
            "gives each class the same total weight",
            "or oversample the minority classes (repeat their samples) so that the "
            "classes are about equally frequent",
            "watch metrics that see the minority: keras.metrics.Precision(), Recall() "
            "or AUC(), not accuracy",
        ),
    ),
    OVERFITTING: Advice(
        "the validation loss rises while the training loss falls",
        (
            "the model memorizes its training data: more capacity than the data "
            "supports (in kmon's test, two 512-unit layers on 210 rows)",
            "training goes on for epochs past the best one",
        ),
        (
            "keep the best epoch: keras.callbacks.EarlyStopping(monitor='val_loss', "
            "patience=2, restore_best_weights=True) stops before this alarm (which "
            "waits 3 epochs) with the best epoch's weights",
            "regularize, and watch the model's own validation loss: in kmon's test "
            "Dropout(0.5) only delayed the rise, and L2(1e-2) hid it in val_loss "
            "(Keras adds the penalty to it) while the validation crossentropy rose",
            "a smaller model: in kmon's test two 64-unit layers reached their best "
            "val_loss at least 5 epochs later than two 512-unit layers",
        ),
    ),
    UNSTABLE_TRAINING: Advice(
        "the training loss is unstable",
        (
            "learning rate too high: steps overshoot and the loss jumps back up, "
            "often only once it is small (kmon's test: SGD at 0.5 trained well for "
            "3 epochs, then spiked)",
        ),
        (
            "lower the learning rate 3-10x (SGD at 0.05 trained the same model "
            "smoothly in kmon's test)",
            "clip gradients, with a clipnorm below their usual norm: SGD(0.5, "
            "clipnorm=0.1) tamed the spikes in kmon's test, clipnorm=1.0 did not",
        ),
    ),
}


#: The overfitting fix for one head of several: stopping on ``val_loss`` watches the
#: heads' weighted sum. Keras 3 cannot tell whether a head's loss is to be minimized
#: (``EarlyStopping(monitor="val_<head>_loss")`` raises ValueError), hence the mode.
_HEAD_EARLY_STOPPING = (
    "keep this head's best epoch: keras.callbacks.EarlyStopping(monitor='{metric}', "
    "mode='min', patience=2, restore_best_weights=True) stops before this alarm "
    "(which waits 3 epochs) with that epoch's weights; Keras needs the mode='min' "
    "for a head's loss. On its default monitor, val_loss, EarlyStopping watches the "
    "heads' weighted sum, which can go on falling while one head overfits"
)


def advice_for(kind: str, evidence: dict[str, Any] | None = None) -> Advice | None:
    """The advice for an alarm, fitted to its evidence where a fix depends on it:
    ``overfitting`` of one head of several gets an ``EarlyStopping`` on that head's
    own validation loss (its evidence's ``metric``)."""
    advice = ADVICE.get(kind)
    if advice is None or kind != OVERFITTING or not evidence:
        return advice
    metric = evidence.get("metric")
    if evidence.get("head") is None or not isinstance(metric, str) or metric == "val_loss":
        return advice
    return replace(advice, fixes=(_HEAD_EARLY_STOPPING.format(metric=metric), *advice.fixes[1:]))
