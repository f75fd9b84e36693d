"""The claims of the History article (``001_1efe11d93a142f65.txt``), each tested by
a variant of :mod:`.history_vs_console`. Plain data: the checks are in
``kmon.engine.view.claim_checks``; the verdicts come from running them."""

from __future__ import annotations

from .base import Claim

SOURCE = "001_1efe11d93a142f65.txt"


def _claim(text: str, variant: str, outcome: str, verdict: str, check: str) -> Claim:
    return Claim(text, SOURCE, variant, outcome, verdict, check)


CLAIMS: tuple[Claim, ...] = (
    _claim(
        "The console output typically displays the *per-batch* loss, while the "
        "`History` callback records the *epoch* loss.",
        "verbose1",
        "the loss the progress bar shows at each epoch's end differs from History's",
        "does not hold: the bar shows the running mean; its last value is History's, "
        "to its 4 decimals",
        "console_differs",
    ),
    _claim(
        "Console output will show per-batch losses during training",
        "example1",
        "with verbose=2 Keras prints a loss line for every batch",
        "does not hold: verbose=2 prints one line per epoch",
        "console_per_batch",
    ),
    _claim(
        "the reporting mechanisms – the console's real-time updates versus the "
        "post-epoch aggregation by the callback – introduce potential rounding "
        "differences",
        "example1",
        "the console's epoch line and History differ by more than the display's rounding",
        "does not hold: the epoch line prints History's own value to 4 decimals",
        "console_differs",
    ),
    _claim(
        "It computes an average loss across the entire epoch",
        "noisy",
        "History's loss is the batch-size weighted mean of the epoch's batch losses",
        "holds",
        "history_is_mean",
    ),
    _claim(
        "the per-batch loss fluctuates wildly, potentially exhibiting spikes due to "
        "noisy batches, while the epoch loss, calculated as a mean across all batches, "
        "presents a smoother trend",
        "noisy",
        "the epoch's batch losses spread over more than their mean",
        "holds (batches of 16, dropout 0.5, class weights)",
        "wide_batch_spread",
    ),
    _claim(
        "This is especially noticeable in epochs with a higher number of batches.",
        "steady",
        "with few large batches (10 of 256, no dropout) the batch losses stay within "
        "±50% of their mean",
        "holds only when 'more batches' means smaller ones: batch size, not the count, "
        "sets the spread",
        "narrow_batch_spread",
    ),
    _claim(
        "the epoch loss in `history` remains the more robust indicator of overall model "
        "performance",
        "noisy",
        "History's last loss is within 5% of evaluate() on the same training data",
        "does not hold: History averages an epoch of changing weights, with dropout "
        "and class weights; evaluate() scores the final model",
        "history_equals_evaluate",
    ),
    _claim(
        "the console displays per-batch metrics, possibly masked by the early stopping mechanism",
        "example2",
        "with verbose=2 and early stopping Keras prints a loss line for every batch",
        "does not hold: one line per epoch that ran",
        "console_per_batch",
    ),
    _claim(
        "the early stopping mechanism which terminates before the full epochs are reached",
        "example2",
        "EarlyStopping(patience=3) on random labels ends the fit before epoch 20",
        "holds",
        "stopped_early",
    ),
    _claim(
        "Train the model with class weights",
        "example3_as_written",
        "example 3 as printed trains with the array compute_class_weight returns",
        "does not hold: Keras 3 wants a dict; fit() fails with AttributeError: "
        "'numpy.ndarray' object has no attribute 'get'",
        "runs",
    ),
    _claim(
        "Notice how the class weights influence the loss calculation.",
        "example3",
        "fit() applies class weights to every batch loss: History's loss is weighted",
        "holds (with the weights passed as a dict)",
        "class_weights_applied",
    ),
)
