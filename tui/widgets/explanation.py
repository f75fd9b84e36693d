"""The 'why do these numbers differ' line, computed from this run."""

from __future__ import annotations

from textual.widgets import Static

from kmon.engine.view.explain import explain_latest
from kmon.engine.view.state import RunState

#: While a live run trains, the rows an explanation takes at least (those of its
#: box, ``#explanation-box``'s ``max-height``), blank rows under a shorter text.
TRAINING_ROWS = 5


class Explanation(Static):
    """Explains the latest finished epoch's History value against the others."""

    DEFAULT_CSS = """
    Explanation {
        height: auto;
        padding: 0 1;
        color: $text-muted;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("Explanations appear at the end of each epoch.", id=id)
        self._explained: tuple[int, int] | None = None
        self._padding = 0
        """Blank lines under the text, keeping the height a longer text had."""

    def show(self, state: RunState, *, shrink: bool = True) -> None:
        """Explain the latest epoch. With ``shrink`` False (a live run training) the
        text takes ``TRAINING_ROWS`` rows, or more if it needs more, and keeps the
        height it had, blank lines under a shorter text: each change of height is a
        layout pass (two: Textual lays the screen out again for the widgets the
        first one resized), which renders every widget of the tab again and makes
        plotext draw the epoch chart anew (10-20 ms each on a small VM), and the
        chart would jump at every epoch whose text wraps differently. So a run's
        explanations ask for one layout pass while training, with the first one
        (as the learning-rate panel appears), not one at each text that wraps to
        a line more."""
        if not state.history:
            if state.finished:
                # Nothing to explain; say why, rather than promise explanations.
                warnings = [n.text for n in state.notices if n.level == "warning"]
                text = "No epoch finished in this run" + (
                    ": " + "; ".join(warnings) + "." if warnings else "."
                )
                self.update(_escape(text))
            return
        explained = (len(state.history), len(state.segments))
        if explained == self._explained and not (shrink and self._padding):
            return
        self._explained = explained
        heading, text = explain_latest(state)
        markup = f"[b]{_escape(heading)}:[/b] " + _escape(text)
        self.update(markup, layout=False)
        # Ask for a layout pass only when the rows it takes change. On a hidden tab
        # (no width) they cannot be known, and the tab, once shown, would keep the old
        # height and cut the new text off: always ask then (its own height).
        width, height = self.size
        needed = self.get_content_height(self.size, self.app.size, width) if width else 0
        self._padding = 0
        rows = needed if shrink or not width else max(needed, height, TRAINING_ROWS)
        if rows > needed:
            self._padding = rows - needed
            self.update(markup + "\n" * self._padding, layout=False)
        if not width or rows != height:
            self.refresh(layout=True)


def _escape(text: str) -> str:
    return text.replace("[", r"\[")
