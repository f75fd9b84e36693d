"""A screen whose partial updates render only the rows they change.

Textual's compositor (``textual._compositor.Compositor``) paints a frame's changed
rows by asking every widget whose *container* overlaps them for all of its lines
(its region within that container: 36-40 rows for the screen, the tabbed content,
the tab pane), then keeps the changed rows only. The monitor's frames change one
header row, or a few rows of the batch panels: the containers' other rows (line
caches, Textual's line filters, cropping) cost the UI thread about 1 ms a frame
on a small VM, holding the GIL the training thread needs.

:class:`RowCompositor` asks each widget for the rows of the frame's box only (its
clip narrowed to those rows, columns as they are), which is all Textual keeps of
them: the same strips on the same rows. A widget left with no row in the box is
not asked at all. Full updates (a layout pass, a screenshot) are Textual's own.

It overrides a private method of Textual's: :func:`monitor_screen` gives Textual's
own screen where that method is not the one it was written for.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable

from textual._compositor import Compositor
from textual.geometry import Region
from textual.screen import Screen
from textual.strip import Strip

#: The parameters of the method overridden, as in the Textual it was written for.
_EXPECTED_PARAMETERS = ("self", "crop")


class RowCompositor(Compositor):
    """Textual's compositor; a partial update renders only its box's rows."""

    def _get_renders(
        self, crop: Region | None = None
    ) -> Iterable[tuple[Region, Region, list[Strip]]]:
        if not crop:
            yield from super()._get_renders(crop)
            return
        top, bottom = crop.y, crop.bottom
        intersection = Region.intersection
        overlaps = crop.overlaps
        for widget, (region, clip) in self.visible_widgets.items():
            if not overlaps(clip):
                continue
            # The clip's own columns, the box's rows: ``_render_chops`` places the
            # strips by ``region ∩ clip`` and keeps the box's rows only.
            y = max(clip.y, top)
            rows = min(clip.bottom, bottom) - y
            if rows <= 0:
                continue
            clip = Region(clip.x, y, clip.width, rows)
            x, y, width, height = intersection(region, clip)
            if width and height:
                yield (
                    region,
                    clip,
                    widget.render_lines(Region(x - region.x, y - region.y, width, height)),
                )


def _fits() -> bool:
    """Whether this Textual's compositor has the method as it was written for."""
    method = getattr(Compositor, "_get_renders", None)
    if method is None:
        return False
    try:
        return tuple(inspect.signature(method).parameters) == _EXPECTED_PARAMETERS
    except (TypeError, ValueError):
        return False


FITS = _fits()


def monitor_screen(id: str) -> Screen:  # noqa: A002 (Textual's name)
    """A screen with a :class:`RowCompositor` where this Textual has the method it
    overrides, else Textual's own screen."""
    screen = Screen(id=id)
    if FITS and type(getattr(screen, "_compositor", None)) is Compositor:
        screen._compositor = RowCompositor()  # noqa: SLF001
    return screen
