"""What a monitor shows of the ``system`` samples and the learning rate: the latest
sample, and each quantity as a bounded min/max bucket series (like the loss's)."""

from __future__ import annotations

from dataclasses import dataclass, field

from kmon.engine.events import EpochEnd, LearningRate, System
from kmon.engine.series import BucketSeries

#: Buckets kept per system series: a day of samples a second costs the same.
SYSTEM_SERIES_CAPACITY = 256
#: Bytes in a GiB, as the System tab and the header show memory.
GIB = 1024**3

#: The host quantities kept as series: (key, label, unit); GPUs' follow per GPU.
HOST_QUANTITIES = (
    ("process_cpu", "process CPU", "%"),
    ("rss", "process RSS", "GiB"),
    ("host_cpu", "host CPU, all cores", "%"),
    ("memory_used", "host memory used", "GiB"),
    ("load1", "load (1 min)", ""),
)
GPU_QUANTITIES = (
    ("utilization", "utilization", "%"),
    ("memory_used", "memory used", "GiB"),
    ("temperature", "temperature", "°C"),
    ("power", "power", "W"),
)


@dataclass
class SystemView:
    """The system samples folded: :attr:`latest` and one series per quantity.

    Series keys are the host quantities' keys and ``gpu<i>.<quantity>``; memory is
    kept in GiB.
    """

    capacity: int = SYSTEM_SERIES_CAPACITY
    latest: System | None = None
    samples: int = 0
    series: dict[str, BucketSeries] = field(default_factory=dict)

    @property
    def no_gpu(self) -> str | None:
        """Why there is no GPU to show (the latest sample's note); None with GPUs or
        before any sample."""
        latest = self.latest
        if latest is None or latest.gpus:
            return None
        return latest.gpu_note or "no GPU"

    def apply(self, event: System) -> None:
        self.latest = event
        self.samples += 1
        load = event.load[0] if event.load else None
        values = {
            "process_cpu": event.process_cpu,
            "rss": _gib(event.rss),
            "host_cpu": event.host_cpu,
            "memory_used": _gib(event.memory_used),
            "load1": load,
        }
        for gpu in event.gpus:
            prefix = f"gpu{gpu.get('index', 0)}."
            for key, _label, _unit in GPU_QUANTITIES:
                value = gpu.get(key)
                values[prefix + key] = _gib(value) if key == "memory_used" else value
        for key, value in values.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                series = self.series.get(key)
                if series is None:
                    series = self.series[key] = BucketSeries(self.capacity)
                series.append(float(value))


@dataclass
class LearningRates:
    """The learning rate: its latest reading, and its value at each epoch's end
    (``(epoch number across the run, model segment, rate)``), which the chart under
    the epoch curves draws."""

    current: float | None = None
    by_epoch: list[tuple[int, int, float]] = field(default_factory=list)

    def read(self, event: LearningRate) -> None:
        self.current = event.value

    def epoch_ended(self, event: EpochEnd, number: int, segment: int) -> None:
        if event.learning_rate is not None:
            self.current = event.learning_rate
            self.by_epoch.append((number, segment, event.learning_rate))


def _gib(value: int | float | None) -> float | None:
    return None if value is None else value / GIB
