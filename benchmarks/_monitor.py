"""The live monitor, as the in-process benchmarks subclass it."""

from __future__ import annotations

from pathlib import Path

from kmon.tui import app as monitor_module
from kmon.tui.app import MonitorApp


class BenchmarkMonitor(MonitorApp):
    """:class:`~kmon.tui.app.MonitorApp` with its own stylesheet: Textual looks a
    relative ``CSS_PATH`` up beside the subclass, here ``benchmarks/``."""

    CSS_PATH = str(Path(monitor_module.__file__).with_name("monitor.tcss"))
