"""The sampler: a daemon thread that reads the process, the host and the GPUs every
``interval`` seconds and emits each sample as a ``system`` event.

It runs beside training and never touches it: the training thread does not wait for
it, and it takes no lock the training thread takes (``emit`` is the bus's, which
appends to deques). Its cost is measured by ``benchmarks/system_sampler.py``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from kmon.engine.events import Event, Notice, System
from kmon.engine.system.gpus import GpuReader
from kmon.engine.system.host import HostReader
from kmon.engine.system.tf_memory import TfMemoryReader

#: Seconds between samples unless ``--system-interval`` says otherwise.
DEFAULT_INTERVAL = 1.0
#: The shortest interval accepted: faster sampling would cost more than it tells.
MIN_INTERVAL = 0.05


class SystemSampler:
    """Samples every ``interval`` seconds until :meth:`stop`.

    The first sample comes one interval after :meth:`start`: CPU percentages are
    over the time since the previous reading, so the start only primes them.

    Args:
        emit: receives each ``system`` event (the run's bus); must not block.
        interval: seconds between samples (at least ``MIN_INTERVAL``).
        host: reads CPU and memory (tests pass their own).
        gpus: reads the GPUs (tests pass one with NVML faked).
    """

    def __init__(
        self,
        emit: Callable[[Event], None],
        interval: float = DEFAULT_INTERVAL,
        *,
        host: HostReader | None = None,
        gpus: GpuReader | None = None,
    ) -> None:
        self._emit = emit
        self.interval = max(float(interval), MIN_INTERVAL)
        self._host = host
        self._gpus = gpus
        self._tf_memory = TfMemoryReader()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._main, name="kmon-system", daemon=True)
        self.samples = 0
        """Samples emitted so far."""

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        """Stop sampling and wait (up to ``timeout``) for the thread: no event is
        emitted after this returns, unless a sample hangs that long."""
        self._stopped.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    @property
    def thread(self) -> threading.Thread:
        """The sampling thread (the benchmark reads its CPU time)."""
        return self._thread

    def _main(self) -> None:
        try:
            host = self._host = self._host or HostReader()
            self._gpus = self._gpus or GpuReader()
            host.read()  # primes the CPU percentages
            deadline = time.monotonic()
            while True:
                deadline += self.interval
                if self._stopped.wait(max(deadline - time.monotonic(), 0.0)):
                    break
                if time.monotonic() - deadline > self.interval:
                    deadline = time.monotonic()  # suspended or starved: no catching up
                self._emit(self.sample())
                self.samples += 1
        except Exception as exc:  # noqa: BLE001 - sampling must never end the run
            self._emit(Notice(level="warning", text=f"system sampling stopped: {exc!r}"))
        finally:
            if self._gpus is not None:
                self._gpus.close()

    def sample(self) -> System:
        """One sample now (the thread calls it; so can tests and the benchmark)."""
        host = self._host = self._host or HostReader()
        gpus = self._gpus = self._gpus or GpuReader()
        found = gpus.read()
        return System(
            interval=self.interval,
            **host.read(),
            gpus=found,
            gpu_note=gpus.note if not found else None,
            tf_memory=self._tf_memory.read(),
        )
