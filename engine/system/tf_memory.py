"""TensorFlow's own view of GPU memory (``tf.config.experimental.get_memory_info``):
what its allocator holds now and at its peak, which NVML's per-process figure
cannot tell apart from the memory it reserved.

Read only where the script already imported TensorFlow and TensorFlow already set
up its devices: listing them earlier would set them up, and a script's later
``tf.config.experimental.set_memory_growth`` would then fail.
"""

from __future__ import annotations

import sys
from typing import Any


class TfMemoryReader:
    """Reads the allocator of each TensorFlow GPU device; None when there is none."""

    def __init__(self) -> None:
        self._devices: list[str] | None = None

    def read(self) -> dict[str, dict[str, int]] | None:
        """``{"GPU:0": {"current": bytes, "peak": bytes}}``, or None."""
        devices = self._devices
        if devices is None:
            devices = self._find_devices()
            if devices is None:
                return None  # not yet: TensorFlow has not set its devices up
            self._devices = devices
        found: dict[str, dict[str, int]] = {}
        tf = sys.modules.get("tensorflow")
        for name in devices:
            try:
                info: Any = tf.config.experimental.get_memory_info(name)
                found[name] = {"current": int(info["current"]), "peak": int(info["peak"])}
            except (ValueError, KeyError, TypeError, AttributeError, RuntimeError):
                continue
        return found or None

    @staticmethod
    def _find_devices() -> list[str] | None:
        """The GPU devices' names once TensorFlow's context is set up (an empty list
        for none), else None."""
        tf = sys.modules.get("tensorflow")
        if tf is None:
            return None
        # Loaded with TensorFlow; looked up rather than imported, so this module
        # never imports TensorFlow itself.
        context = sys.modules.get("tensorflow.python.eager.context")
        try:
            if context is None or not getattr(context.context(), "_initialized", False):
                return None
            return [
                device.name.split("device:", 1)[-1]
                for device in tf.config.list_logical_devices("GPU")
            ]
        except (AttributeError, RuntimeError, ValueError):
            return []
