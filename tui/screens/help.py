"""Key help."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, Static

KEYS = [
    ("q / Ctrl+C", "quit (asks first while the run goes on, saying what a stop does then)"),
    ("l / o", "the Loss tab / the Output tab (the script's own output)"),
    ("h", "the Heads tab: each output's loss and metrics, train and val, and the total"),
    ("a", "the Alarms tab: training alarms, evidence, fixes"),
    ("y", "the System tab: the run's CPU, memory and GPUs, and the machine's"),
    ("s", "smooth the per-batch loss (EMA, bias-corrected) or show it raw"),
    ("g", "draw the batch sparklines on a log scale, or linear again"),
    ("?", "this help"),
    ("Tab", "move focus (the output pane scrolls with arrows, PgUp/PgDn, Home/End)"),
    ("Esc", "close this help"),
]

SERIES = [
    (
        "each batch",
        "the loss of that batch alone, recovered exactly from Keras's running means "
        "and the batch sizes. Noisy: that is the truth.",
    ),
    (
        "running mean",
        "what Keras passes to callbacks and its progress bar shows: the mean over "
        "the epoch so far, weighted by batch size.",
    ),
    ("History", "the running mean at the epoch's last batch: what model.history records."),
    (
        "val_loss",
        "the validation data scored after each epoch with the final weights, in "
        "inference mode (no dropout).",
    ),
]


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,question_mark,q", "dismiss", "Close")]

    def compose(self) -> ComposeResult:
        with Vertical(id="help"):
            yield Label("kmon — keys", classes="help-title")
            for key, what in KEYS:
                yield Static(f"[b]{key:>12}[/b]  {what}")
            yield Label("What the series mean", classes="help-title")
            for name, what in SERIES:
                yield Static(f"[b]{name:>12}[/b]  {what}")
