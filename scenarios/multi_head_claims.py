"""The claims of the multi-head article (``000_4aa3bddb73fab038.txt``), each tested
by a variant of :mod:`.multi_head_metrics`. Plain data: the checks are in
``kmon.engine.view.claim_checks``; the verdicts come from running them."""

from __future__ import annotations

from .base import Claim

SOURCE = "000_4aa3bddb73fab038.txt"


def _claim(text: str, variant: str, outcome: str, verdict: str, check: str) -> Claim:
    return Claim(text, SOURCE, variant, outcome, verdict, check)


CLAIMS: tuple[Claim, ...] = (
    _claim(
        "seeing three losses indicates three separate output heads",
        "example1",
        "History's losses number the heads: 3 heads log 3 losses",
        "does not hold: 3 heads log 4 losses (the total and one per head); 3 losses mean 2 heads",
        "losses_equal_heads",
    ),
    _claim(
        "this behavior indicates a model with three output heads, but only two of those "
        "heads are configured to report accuracy metrics",
        "three_heads",
        "3 heads with accuracy on 2 log 3 losses and 2 accuracies",
        "does not hold: that model logs 4 losses and 2 accuracies",
        "counts:3:2",
    ),
    _claim(
        "This will report 3 losses (categorical_crossentropy, mse, mse) but only one "
        "accuracy (for classification)",
        "example1",
        "the three-head model of example 1 logs 3 losses and 1 accuracy",
        "does not hold: it logs 4 losses (loss and one per head) and 1 accuracy",
        "counts:3:1",
    ),
    _claim(
        "This will report 3 losses and 3 accuracies.",
        "example2",
        "three softmax heads with accuracy on each log 3 losses and 3 accuracies",
        "does not hold: 4 losses and 3 accuracies",
        "counts:3:3",
    ),
    _claim(
        "This example shows a model with three output layers: one classification layer "
        "using softmax, and two regression layers.",
        "example1_as_written",
        "example 1 as printed builds and compiles",
        "does not hold: as printed it is a SyntaxError (a comma is missing)",
        "runs",
    ),
    _claim(
        "By specifying 'accuracy' for each output in the metrics dictionary during "
        "compilation, we ensure that three accuracy metrics are reported alongside the "
        "three losses.",
        "example2_as_written",
        "example 2 as printed (a Sequential model, a loss dict) trains",
        "does not hold: fit() fails with TypeError: 'NoneType' object is not iterable",
        "runs",
    ),
    _claim(
        "This model illustrates a scenario where all three outputs are classification layers.",
        "sequential_pitfall",
        "three Dense layers in a Sequential model give 3 outputs",
        "does not hold: a Sequential model chains its layers; it has 1 output",
        "outputs:3",
    ),
    _claim(
        "It uses a custom metric (Mean Absolute Error) for one of the regression outputs.",
        "example3_as_written",
        "example 3 as printed trains with its K.mean metric",
        "does not hold: Keras 3's keras.backend has no mean (AttributeError)",
        "runs",
    ),
    _claim(
        "This illustrates using a custom metric for regression and explicit definition "
        "of metrics for each output head",
        "example3",
        "History logs regression_output_custom_regression_metric",
        "holds only when the metric uses keras.ops (keras.ops.mean, keras.ops.abs)",
        "logged:regression_output_custom_regression_metric",
    ),
    _claim(
        "the accuracy metric, unlike the loss, is not automatically calculated for every "
        "output layer. You explicitly define which output layers should compute and "
        "report accuracy.",
        "three_heads",
        "only the heads compile(metrics=...) names log accuracy: 4 losses, 2 accuracies",
        "holds",
        "counts:4:2",
    ),
    _claim(
        "To obtain an accuracy for each output, the entire model design may need revisiting.",
        "all_metrics",
        "a metric on every head needs another model",
        "does not hold: the same model with a metric per head in compile() logs one for every head",
        "every_head_has_metric",
    ),
    _claim(
        "Each output layer can have its own loss function, calculated separately and "
        "then aggregated (usually by summing) to produce the total loss.",
        "three_heads",
        "per batch, the total equals the head losses summed with their loss_weights",
        "holds: a weighted sum (loss_weights, 1.0 by default), per batch; History's "
        "epoch values need not add up",
        "total_is_weighted_sum",
    ),
)
