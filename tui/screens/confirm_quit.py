"""Asks before quitting while training still runs."""

from __future__ import annotations

from collections.abc import Callable

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label

from kmon.engine.stop import (
    AFTER_BATCH,
    BEFORE_START,
    CUT_THREADS,
    INTERRUPT,
    LATER_FITS,
    STOP_EFFECTS,
)

#: The question to ask before each kind of stop (see :mod:`kmon.engine.stop`).
STOP_QUESTIONS = {
    AFTER_BATCH: "Stop training and quit?",
    LATER_FITS: "Stop the run and quit?",
    INTERRUPT: "Interrupt the script and quit?",
    BEFORE_START: "Quit before the script starts?",
    CUT_THREADS: "Give up the script's threads and quit?",
}


def stop_detail(action: str, then: str) -> str:
    """What the stop ``action`` does, as a sentence ending with ``then``."""
    effect = STOP_EFFECTS[action]
    return f"{effect[0].upper()}{effect[1:]}; {then}"


def quit_detail(action: str) -> str:
    """The live monitor's Quit dialog: what the stop does, then that kmon exits."""
    then = (
        "kmon exits."
        if action in (BEFORE_START, CUT_THREADS)
        else "kmon exits when the script ends."
    )
    return stop_detail(action, then)


class ConfirmQuit(ModalScreen[bool]):
    """Dismisses with True when the user confirms.

    Args:
        question: the dialog's question.
        detail: what answering yes does.
        follow: gives ``(question, detail)`` anew; called a few times a second while
            the dialog is open, so that it keeps saying what a stop would do now
            (a fit can start while the user reads it).
    """

    BINDINGS = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n,escape", "answer(False)", "No"),
    ]

    def __init__(
        self,
        question: str,
        detail: str,
        follow: Callable[[], tuple[str, str]] | None = None,
    ) -> None:
        super().__init__()
        self._question = question
        self._detail = detail
        self._follow = follow

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(self._question, id="question")
            yield Label(self._detail, id="detail")
            with Horizontal(id="buttons"):
                yield Button("Yes (y)", variant="error", id="yes")
                yield Button("No (n)", variant="primary", id="no")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()
        if self._follow is not None:
            self.set_interval(0.2, self._refresh_text)

    def _refresh_text(self) -> None:
        question, detail = self._follow()
        if (question, detail) != (self._question, self._detail):
            self._question, self._detail = question, detail
            self.query_one("#question", Label).update(question)
            self.query_one("#detail", Label).update(detail)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)
