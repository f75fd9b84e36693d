"""NVIDIA GPUs through NVML (NVIDIA's own library, via nvidia-ml-py's ``pynvml``):
utilization, memory, temperature, power and the processes on each GPU.

Without nvidia-ml-py, without a driver or without a GPU there is one state, "no
GPU", with the reason: nothing fails.
"""

from __future__ import annotations

import os
from typing import Any

try:
    import pynvml
except ImportError:  # nvidia-ml-py is a dependency, but a broken install must not fail a run
    pynvml = None

#: The reason when nvidia-ml-py cannot be imported.
NO_NVML_LIBRARY = "no GPU: nvidia-ml-py (pynvml) is not installed"


class GpuReader:
    """Reads every GPU NVML sees, once per :meth:`read`.

    NVML is initialized on the first read, in the sampler's thread, and shut down
    by :meth:`close`. A quantity a GPU does not report (power on some boards) is
    None for that GPU.
    """

    def __init__(self) -> None:
        self._handles: list[Any] | None = None
        self._names: list[str | None] = []
        self.note: str | None = None
        """Why there is no GPU to read; None while there are some."""

    def read(self) -> list[dict[str, Any]]:
        """One entry per GPU: ``index``, ``name``, ``utilization`` (%),
        ``memory_used``, ``memory_total`` (bytes), ``temperature`` (°C), ``power``
        (W) and ``processes`` (``[{"pid", "memory"}]``, ``"this"`` true for this
        process); empty with :attr:`note` set when there is no GPU."""
        if self._handles is None:
            self._start()
        handles = self._handles or []
        return [self._read_one(index, handle) for index, handle in enumerate(handles)]

    def _start(self) -> None:
        self._handles = []
        if pynvml is None:
            self.note = NO_NVML_LIBRARY
            return
        try:
            pynvml.nvmlInit()
        except pynvml.NVMLError as exc:
            self.note = f"no GPU: NVML is not available ({exc})"
            return
        try:
            count = pynvml.nvmlDeviceGetCount()
            self._handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(count)]
            self._names = [_text(_ask(pynvml.nvmlDeviceGetName, h)) for h in self._handles]
        except pynvml.NVMLError as exc:
            self._handles = []
            self.note = f"no GPU: NVML could not list the GPUs ({exc})"
            return
        if not self._handles:
            self.note = "no GPU: NVML sees none"

    def _read_one(self, index: int, handle: Any) -> dict[str, Any]:
        rates = _ask(pynvml.nvmlDeviceGetUtilizationRates, handle)
        memory = _ask(pynvml.nvmlDeviceGetMemoryInfo, handle)
        temperature = _ask(pynvml.nvmlDeviceGetTemperature, handle, pynvml.NVML_TEMPERATURE_GPU)
        milliwatts = _ask(pynvml.nvmlDeviceGetPowerUsage, handle)
        return {
            "index": index,
            "name": self._names[index] if index < len(self._names) else None,
            "utilization": float(rates.gpu) if rates is not None else None,
            "memory_used": int(memory.used) if memory is not None else None,
            "memory_total": int(memory.total) if memory is not None else None,
            "temperature": float(temperature) if temperature is not None else None,
            "power": round(milliwatts / 1000, 1) if milliwatts is not None else None,
            "processes": _processes(handle),
        }

    def close(self) -> None:
        if self._handles:
            try:
                pynvml.nvmlShutdown()
            except pynvml.NVMLError:
                pass
        self._handles = None


def _processes(handle: Any) -> list[dict[str, Any]] | None:
    """The compute and graphics processes on a GPU, each once; None if unreadable."""
    found: dict[int, int | None] = {}
    readable = False
    for ask in (
        pynvml.nvmlDeviceGetComputeRunningProcesses,
        pynvml.nvmlDeviceGetGraphicsRunningProcesses,
    ):
        processes = _ask(ask, handle)
        if processes is None:
            continue
        readable = True
        for process in processes:
            memory = getattr(process, "usedGpuMemory", None)
            found[int(process.pid)] = int(memory) if isinstance(memory, int) else None
    if not readable:
        return None
    me = os.getpid()
    return [
        {"pid": pid, "memory": memory, **({"this": True} if pid == me else {})}
        for pid, memory in found.items()
    ]


def _ask(function, *args):
    """One NVML query; None where the GPU does not support it or it fails."""
    try:
        return function(*args)
    except pynvml.NVMLError:
        return None


def _text(value: Any) -> str | None:
    if isinstance(value, bytes):  # older nvidia-ml-py returns bytes
        return value.decode(errors="replace")
    return value if isinstance(value, str) else None
