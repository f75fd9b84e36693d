"""The process's and the host's CPU and memory, read through psutil."""

from __future__ import annotations

import os
from typing import Any

import psutil


class HostReader:
    """Reads the process's CPU % and RSS, and the host's CPU %, memory and load.

    CPU percentages are over the time since the previous :meth:`read` (psutil
    keeps the counters): the first read only sets them, and says None.

    Args:
        pid: the process to watch (default: this one).
    """

    def __init__(self, pid: int | None = None) -> None:
        self._process = psutil.Process(pid or os.getpid())
        self._primed = False
        self.cpus = psutil.cpu_count() or None

    def read(self) -> dict[str, Any]:
        """``process_cpu`` (% of one core: 200 is two cores busy), ``rss`` (bytes),
        ``host_cpu`` (% of all cores), ``cpus``, ``memory_used`` and
        ``memory_total`` (bytes; used is total minus available, as ``free`` shows),
        ``load`` (1, 5 and 15 minutes); a value that cannot be read is None."""
        process_cpu = host_cpu = rss = None
        try:
            process_cpu = self._process.cpu_percent(None)
            rss = self._process.memory_info().rss
        except psutil.Error:
            pass
        try:
            host_cpu = psutil.cpu_percent(None)
        except (psutil.Error, OSError):
            pass
        if not self._primed:
            # psutil's first percentages compare with nothing (they read 0.0).
            self._primed = True
            process_cpu = host_cpu = None
        memory_used = memory_total = None
        try:
            memory = psutil.virtual_memory()
            memory_total, memory_used = memory.total, memory.total - memory.available
        except (psutil.Error, OSError):
            pass
        try:
            load = [round(value, 2) for value in psutil.getloadavg()]
        except (AttributeError, OSError):
            load = None
        return {
            "process_cpu": _rounded(process_cpu),
            "rss": rss,
            "host_cpu": _rounded(host_cpu),
            "cpus": self.cpus,
            "memory_used": memory_used,
            "memory_total": memory_total,
            "load": load,
        }


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(float(value), 1)
