"""The 'why do these numbers differ' line, computed from this run."""

from __future__ import annotations

from textual.widgets import Static

from kmon.engine.view.explain import explain_latest
from kmon.engine.view.state import RunState


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
        """Explain the latest epoch. With ``shrink`` False (a live run training) a
        text shorter than the one before keeps its height, blank lines under it: a
        layout pass makes Textual render every widget of the tab again and plotext
        draw the epoch chart anew (50-80 ms of the UI thread), and the chart would
        jump at every epoch whose text wraps differently."""
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
        # Ask for a layout pass only when the new text wraps to another number of
        # lines. On a hidden tab (no width) that cannot be known, and the tab, once
        # shown, would keep the old height and cut the new text off: always ask then.
        width, height = self.size
        needed = self.get_content_height(self.size, self.app.size, width) if width else 0
        self._padding = 0
        if not width or (needed > height or (shrink and needed < height)):
            self.refresh(layout=True)
        elif needed < height:
            self._padding = height - needed
            self.update(markup + "\n" * self._padding, layout=False)


def _escape(text: str) -> str:
    return text.replace("[", r"\[")
