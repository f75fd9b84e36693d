"""Key help."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static

KEYS = [
    ("q / Ctrl+C", "quit (asks first while the run goes on, saying what a stop does then)"),
    ("l / o", "the Loss tab / the Output tab (the script's own output)"),
    ("h", "the Heads tab: each output's loss and metrics, train and val, and the total"),
    ("a", "the Alarms tab: training alarms, evidence, fixes"),
    ("y", "the System tab: the run's CPU, memory and GPUs, and the machine's"),
    ("s", "smooth the per-batch loss (EMA, bias-corrected) or show it raw"),
    ("g", "draw the batch sparklines and the epoch chart on a log scale, or linear again"),
    ("/", "filter metrics by name (regex, any case; Enter keeps it, Esc clears it)"),
    ("[ / ]", "smooth the epoch chart less / more: EMA β 0 … 0.99 (raw values stay in gray)"),
    ("t", "epoch chart's x axis: epoch, step, wall time, time since start"),
    ("← / →", "chart focused (Tab, or click it): a cursor reads one epoch's values"),
    ("p", "save an SVG screenshot of the screen in the current folder"),
    ("?", "this help"),
    ("Tab", "move focus (the output pane scrolls with arrows, PgUp/PgDn, Home/End)"),
    ("Esc", "close this help"),
]

#: Where the pictures of the monitor are, and how to take one.
SCREENSHOTS = (
    "p saves Textual's screenshot of this screen as SVG (kmon_<date>.svg, in the "
    "current folder; ctrl+p → Screenshot saves one to Downloads). Pictures of the "
    "monitor: docs/images/ in kmon's repository, made by docs/make_screenshots.py."
)

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
        with VerticalScroll(id="help"):
            yield Label("kmon — keys", classes="help-title")
            for key, what in KEYS:
                yield Static(_line(key, what))
            yield Label("What the series mean", classes="help-title")
            for name, what in SERIES:
                yield Static(_line(name, what))
            yield Label("Screenshots", classes="help-title")
            yield Static(SCREENSHOTS, markup=False)


def _line(name: str, what: str) -> Text:
    """A key or a name in bold, right-aligned, then what it does (plain text: keys
    such as ``[`` are no markup)."""
    return Text.assemble((f"{name:>12}", "bold"), f"  {what}")
