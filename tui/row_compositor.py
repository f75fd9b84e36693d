"""A screen whose partial updates render only the rows they change.

Textual's compositor (``textual._compositor.Compositor``) paints a frame's changed
rows by asking every widget whose *container* overlaps them for all of its lines
(its region within that container: 36-40 rows for the screen, the tabbed content,
the tab pane), then keeps the changed rows only. The monitor's frames change one
header row, or a few rows of the batch panels: the containers' other rows (line
caches, Textual's line filters, cropping) cost the UI thread about 1 ms a frame
on a small VM, holding the GIL the training thread needs.

:class:`RowCompositor` asks each widget for the rows the frame changes only (its
clip narrowed to its first and last such row, columns as they are), which is all
Textual keeps of them: the same strips on the same rows. A widget with none of
them is not asked at all: a frame of the header's progress line and the batch
panels leaves out the tab bar between them, whose every widget costs Textual's
styles 0.1-0.3 ms to render however little it draws. Nor is a widget whose kept
rows its children paint already (the screen under the header, the tabbed content
under the batch panels): Textual would render it and keep none of it. Full
updates (a layout pass, a screenshot) are Textual's own.

It overrides two private methods of Textual's: :func:`monitor_screen` gives
Textual's own screen where they are not the ones it was written for.
"""

from __future__ import annotations

import bisect
import inspect
from collections.abc import Callable, Iterable, Sequence

from textual._compositor import Compositor
from textual.geometry import Region
from textual.screen import Screen
from textual.strip import Strip

#: The parameters of the methods overridden, as in the Textual they were written for.
_EXPECTED_PARAMETERS = {
    "_get_renders": ("self", "crop"),
    "_render_chops": ("self", "crop", "is_rendered_line"),
}


class RowCompositor(Compositor):
    """Textual's compositor; a partial update renders only the rows it changes."""

    _is_rendered_line: Callable[[int], bool] | None = None

    def _render_chops(self, crop: Region, is_rendered_line: Callable[[int], bool]):
        # Which of the box's rows the update keeps (a frame's header row and its
        # panels' rows, not the tab bar between them): ``_get_renders`` is not told.
        self._is_rendered_line = is_rendered_line
        try:
            return super()._render_chops(crop, is_rendered_line)
        finally:
            self._is_rendered_line = None

    def _get_renders(
        self, crop: Region | None = None
    ) -> Iterable[tuple[Region, Region, list[Strip]]]:
        if not crop:
            yield from super()._get_renders(crop)
            return
        kept = self._is_rendered_line
        rows: Sequence[int] = (
            range(crop.y, crop.bottom)
            if kept is None
            else [y for y in range(crop.y, crop.bottom) if kept(y)]
        )
        if not rows:
            return
        intersection = Region.intersection
        overlaps = crop.overlaps
        # Each kept row's columns painted so far, as merged [start, end) spans: the
        # widgets come front to back, and ``_render_chops`` keeps the first strip a
        # cut gets, so a widget whose every kept row is painted already (a container
        # under its children: the tabbed content, the screen) is not asked.
        painted: dict[int, list[list[int]]] = {}
        for widget, (region, clip) in self.visible_widgets.items():
            if not overlaps(clip):
                continue
            # The clip's own columns, from its first row the update keeps to its
            # last: ``_render_chops`` places the strips by ``region ∩ clip`` and
            # keeps those rows only. A widget with no such row is not asked.
            first = bisect.bisect_left(rows, clip.y)
            last = bisect.bisect_left(rows, clip.bottom) - 1
            if last < first:
                continue
            y = rows[first]
            clip = Region(clip.x, y, clip.width, rows[last] + 1 - y)
            x, y, width, height = intersection(region, clip)
            if not (width and height):
                continue
            right, bottom = x + width, y + height
            # Its rows the update keeps (none: nothing of it would be kept).
            mine = [row for row in rows[first : last + 1] if y <= row < bottom]
            if all(_covered(painted.get(row), x, right) for row in mine):
                continue
            lines = widget.render_lines(Region(x - region.x, y - region.y, width, height))
            end = y + len(lines)
            for row in mine:
                if row < end:
                    _paint(painted.setdefault(row, []), x, right)
            yield region, clip, lines


def _covered(spans: list[list[int]] | None, start: int, end: int) -> bool:
    """Whether the merged ``spans`` hold every column of [start, end)."""
    return spans is not None and any(a <= start and end <= b for a, b in spans)


def _paint(spans: list[list[int]], start: int, end: int) -> None:
    """Add [start, end) to ``spans``, merging the spans it touches."""
    for span in [span for span in spans if span[0] <= end and start <= span[1]]:
        start, end = min(start, span[0]), max(end, span[1])
        spans.remove(span)
    spans.append([start, end])


def _fits() -> bool:
    """Whether this Textual's compositor has the methods as they were written for."""
    for name, expected in _EXPECTED_PARAMETERS.items():
        method = getattr(Compositor, name, None)
        if method is None:
            return False
        try:
            if tuple(inspect.signature(method).parameters) != expected:
                return False
        except (TypeError, ValueError):
            return False
    return True


FITS = _fits()


def monitor_screen(id: str) -> Screen:  # noqa: A002 (Textual's name)
    """A screen with a :class:`RowCompositor` where this Textual has the methods it
    overrides, else Textual's own screen."""
    screen = Screen(id=id)
    if FITS and type(getattr(screen, "_compositor", None)) is Compositor:
        screen._compositor = RowCompositor()  # noqa: SLF001
    return screen
