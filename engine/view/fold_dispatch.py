"""Dispatch for the classes that fold events: one dict lookup per event."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kmon.engine.events import Event


def handlers_by_type(cls: type) -> dict[str, Callable[[Any, Event], None]]:
    """Event type -> ``cls``'s ``_on_<type>`` method, for classes that fold events:
    one dict lookup per event instead of a method name built and looked up (this
    runs for every batch)."""
    return {
        name.removeprefix("_on_"): handler
        for name, handler in vars(cls).items()
        if name.startswith("_on_")
    }
