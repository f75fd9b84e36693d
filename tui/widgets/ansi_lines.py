"""plotext's ANSI output as rich ``Text`` lines, read as ``Text.from_ansi`` reads it.

The epoch chart's every redraw turns plotext's canvas (25-40 lines of colour
codes) into text: ``Text.from_ansi`` and the split into lines took 2.5-3 ms of
the UI thread's 10-14 ms a chart at 120x40, most of it working out the same few
styles again for each of a few hundred colour changes (plotext writes out every
run's codes, and a reset after it). :class:`AnsiLines` works out each style once:
rich's own decoder reads an SGR sequence the first time it follows a style, and
the result is kept. Lines come out with the same text and spans as
``Text.from_ansi(ansi).split("\\n", allow_blank=True)``.
"""

from __future__ import annotations

import re

from rich.ansi import AnsiDecoder
from rich.style import Style
from rich.text import Text

_SGR = re.compile(r"\x1b\[([0-9;]*)m")
#: What else rich's decoder reads apart: a carriage return, and the line breaks
#: ``str.splitlines`` knows besides a newline (other escapes are found as read).
_OTHER = re.compile("[\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")
#: Styles remembered at most (plotext's themes use a dozen or so colours).
_MOST = 1024


class AnsiLines:
    """Reads text whose only escape codes are SGR (colours and styles); text with
    anything else rich's decoder reads apart goes to ``Text.from_ansi``."""

    def __init__(self) -> None:
        self._decoder = AnsiDecoder()
        self._after: dict[tuple[Style, str], Style] = {}
        """The style an SGR sequence leaves after a style, as rich's decoder says."""

    def lines(self, ansi: str) -> list[Text]:
        """``ansi``'s lines (one more after a final newline, as ``split`` gives)."""
        if _OTHER.search(ansi):
            return _from_ansi(ansi)
        after = self._after
        if len(after) > _MOST:
            after.clear()
        style = Style.null()
        found = []
        for line in ansi.split("\n"):
            text = Text()
            append = text.append
            position = 0
            for match in _SGR.finditer(line):
                start = match.start()
                if start > position:
                    append(line[position:start], style or None)
                key = (style, match.group(1))
                following = after.get(key)
                if following is None:
                    following = after[key] = self._decode(style, match.group(0))
                style = following
                position = match.end()
            if position < len(line):
                append(line[position:], style or None)
            found.append(text)
        if any("\x1b" in text.plain for text in found):  # an escape other than SGR
            return _from_ansi(ansi)
        return found

    def _decode(self, style: Style, sgr: str) -> Style:
        decoder = self._decoder
        decoder.style = style
        decoder.decode_line(sgr)
        return decoder.style


def _from_ansi(ansi: str) -> list[Text]:
    return Text.from_ansi(ansi).split("\n", allow_blank=True)
