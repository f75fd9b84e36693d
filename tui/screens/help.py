"""Key help."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, Static

KEYS = [
    ("q / Ctrl+C", "quit (asks first while training runs, then stops it gracefully)"),
    ("?", "this help"),
    ("Tab", "move focus (the output pane scrolls with arrows, PgUp/PgDn, Home/End)"),
    ("Esc", "close this help"),
]

SERIES = [
    (
        "batch loss",
        "Keras's running mean of the loss over the epoch so far, after each "
        "batch: what its progress bar shows, not the loss of that batch alone.",
    ),
    (
        "epoch loss",
        "the value History records for each epoch: the running mean at the epoch's last batch.",
    ),
    (
        "val_loss",
        "the loss on the validation data, evaluated after each epoch with the "
        "epoch's final weights.",
    ),
]


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,question_mark,q", "dismiss", "Close")]

    def compose(self) -> ComposeResult:
        with Vertical(id="help"):
            yield Label("kmon — keys", classes="help-title")
            for key, what in KEYS:
                yield Static(f"[b]{key:>10}[/b]  {what}")
            yield Label("What the series mean", classes="help-title")
            for name, what in SERIES:
                yield Static(f"[b]{name:>10}[/b]  {what}")
