"""The monitor's metric filter: a one-line input that ``/`` opens, for models that
log dozens of metrics. The Heads grid and the epoch chart keep the metrics whose
log key matches it.

The filter is a case-insensitive regular expression searched anywhere in the key
(so plain text is a substring: ``acc`` keeps ``accuracy`` and ``val_accuracy``;
``^val_`` keeps validation's only; ``loss|mae`` both). Text that is no valid
expression (``mse(``) is matched as plain text instead.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from textual.binding import Binding
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Input

#: Keeps every key: no filter.
EVERYTHING: Callable[[str], bool] = lambda key: True  # noqa: E731


def metric_matcher(text: str) -> Callable[[str], bool]:
    """Whether a log key matches the filter ``text`` (empty: every key does)."""
    if not text:
        return EVERYTHING
    try:
        pattern = re.compile(text, re.IGNORECASE)
    except re.error:
        pattern = re.compile(re.escape(text), re.IGNORECASE)
    return lambda key: pattern.search(key) is not None


class MetricFilter(Input):
    """Hidden until ``/``; typing filters at once, Enter keeps the filter and goes
    back to the tabs, Escape clears it and closes."""

    DEFAULT_CSS = """
    MetricFilter, MetricFilter:focus {
        dock: bottom;
        display: none;
        height: 1;
        border: none;
        padding: 0 1;
        margin-bottom: 1;  /* docked edges overlap: above the footer, not on it */
        background: $boost;
    }
    MetricFilter.-shown {
        display: block;
    }
    """

    BINDINGS = [Binding("escape", "clear_filter", "Clear filter", show=False)]

    class Applied(Message):
        """The filter text changed (``text`` empty: no filter)."""

        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(placeholder="filter metrics (regex, any case; Esc clears)", id=id)
        self.applied = ""
        self._return_to: Widget | None = None
        self.can_focus = False  # hidden: never focused by the app's autofocus or Tab
        # A blinking cursor repaints twice a second, over SSH too, for nothing.
        self.cursor_blink = False

    def open(self) -> None:
        """Show and focus the filter; in it, ``/`` is text like any other (the app
        binds ``/`` with priority, so that it is not typed in as it opens)."""
        if self.has_focus:
            self.insert_text_at_cursor("/")
            return
        self._return_to = self.screen.focused
        self.can_focus = True
        self.add_class("-shown")
        self.focus()

    def _hide(self) -> None:
        self.remove_class("-shown")
        self.can_focus = False

    def _leave(self) -> None:
        """Focus goes back where it was before ``/``."""
        back = self._return_to
        if back is not None and back.is_attached and back.focusable:
            back.focus()
        else:
            self.screen.focus_next()

    def action_clear_filter(self) -> None:
        self.value = ""
        self._apply("")
        self._hide()
        self._leave()

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self._apply(event.value)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if not event.value:
            self._hide()
        self._leave()

    def _apply(self, text: str) -> None:
        if text != self.applied:
            self.applied = text
            self.post_message(self.Applied(text))
