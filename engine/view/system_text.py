"""The words and numbers the monitor shows for ``system`` samples and the learning
rate: the header's compact field, the System tab's summary and its series'
captions and stats."""

from __future__ import annotations

from kmon.engine.events import System
from kmon.engine.format import printable
from kmon.engine.series import BucketSeries
from kmon.engine.view.system_view import GIB, GPU_QUANTITIES, HOST_QUANTITIES


def header_field(sample: System | None) -> str:
    """``GPU0 87% 14.2/80 GiB · CPU 180% · RSS 3.1 GiB``: the busiest GPU, then the
    process's CPU (% of one core) and resident memory; empty before any sample."""
    if sample is None:
        return ""
    parts = []
    gpus = [gpu for gpu in sample.gpus if gpu.get("utilization") is not None]
    if gpus:
        gpu = max(gpus, key=lambda entry: entry["utilization"])
        text = f"GPU{gpu.get('index', 0)} {gpu['utilization']:.0f}%"
        used, total = gpu.get("memory_used"), gpu.get("memory_total")
        if used is not None and total:
            text += f" {used / GIB:.1f}/{total / GIB:.0f} GiB"
        if len(sample.gpus) > 1:
            text += f" (of {len(sample.gpus)})"
        parts.append(text)
    if sample.process_cpu is not None:
        parts.append(f"CPU {sample.process_cpu:.0f}%")
    if sample.rss is not None:
        parts.append(f"RSS {sample.rss / GIB:.1f} GiB")
    return " · ".join(parts)


def learning_rate_field(rate: float | None) -> str:
    """``lr 0.00025``; empty when unknown."""
    return "" if rate is None else f"lr {format_rate(rate)}"


def format_rate(rate: float) -> str:
    """A learning rate in three significant digits: ``0.001``, ``2.5e-05``."""
    return f"{rate:.3g}"


def summary(sample: System, samples: int) -> str:
    """The System tab's first line: the latest sample in words."""
    parts = []
    if sample.process_cpu is not None:
        cores = f" of {sample.cpus} cores" if sample.cpus else ""
        parts.append(f"process CPU {sample.process_cpu:.0f}%{cores} (100% = one core)")
    if sample.rss is not None:
        parts.append(f"RSS {sample.rss / GIB:.2f} GiB")
    if sample.host_cpu is not None:
        parts.append(f"host CPU {sample.host_cpu:.0f}%")
    if sample.memory_used is not None and sample.memory_total:
        parts.append(
            f"memory {sample.memory_used / GIB:.1f}/{sample.memory_total / GIB:.1f} GiB"
        )
    if sample.load:
        parts.append("load " + " ".join(f"{value:.2f}" for value in sample.load))
    every = f"every {sample.interval:g} s, " if sample.interval else ""
    parts.append(f"sampled {every}{samples:,} samples")
    return " · ".join(parts)


def gpu_line(gpu: dict) -> str:
    """One GPU in words: its name and the processes on it, with their memory."""
    name = printable(str(gpu.get("name") or "GPU"))  # from the log: maybe crafted
    text = f"GPU{gpu.get('index', 0)} {name}"
    processes = gpu.get("processes")
    if processes is None:
        return text + " · processes: not readable"
    shown = []
    for process in processes[:8]:
        memory = process.get("memory")
        size = f" {memory / GIB:.1f} GiB" if isinstance(memory, int) else ""
        mine = " (this run)" if process.get("this") else ""
        shown.append(f"{process.get('pid')}{mine}{size}")
    more = f" and {len(processes) - 8} more" if len(processes) > 8 else ""
    return text + " · processes: " + (", ".join(shown) + more if shown else "none")


def tf_memory_line(sample: System) -> str:
    """TensorFlow's allocator per GPU device, when read: ``TF GPU:0 3.1 GiB (peak 4.0)``."""
    if not sample.tf_memory:
        return ""
    return "TensorFlow allocator: " + ", ".join(
        f"{device} {info.get('current', 0) / GIB:.2f} GiB (peak {info.get('peak', 0) / GIB:.2f})"
        for device, info in sample.tf_memory.items()
    )


def captions(keys) -> list[tuple[str, str]]:
    """(series key, caption) in the tab's order: each GPU's, then the host's."""
    labels = {key: _caption(label, unit) for key, label, unit in HOST_QUANTITIES}
    ordered = [key for key, _label, _unit in HOST_QUANTITIES if key in keys]
    gpu_keys = sorted(
        (key for key in keys if key.startswith("gpu")),
        key=lambda key: (int(key[3:].split(".")[0]), _gpu_order(key.split(".", 1)[1])),
    )
    for key in gpu_keys:
        index, quantity = key[3:].split(".", 1)
        unit = next((u for k, _l, u in GPU_QUANTITIES if k == quantity), "")
        labels[key] = _caption(f"GPU{index} {quantity.replace('_', ' ')}", unit)
    # The GPUs first: what a long job's user looks at most.
    return [(key, labels[key]) for key in gpu_keys + ordered]


def series_stats(series: BucketSeries, unit: str = "") -> str:
    """``now 180 · min 20 · max 250 · 600 samples``."""
    if not len(series):
        return "no data yet"
    suffix = f" {unit}" if unit and unit != "%" else unit
    digits = 0 if unit == "%" else None
    parts = [f"now {_number(series.last, digits)}{suffix}"]
    if series.buckets:
        parts += [
            f"min {_number(series.low, digits)}{suffix}",
            f"max {_number(series.high, digits)}{suffix}",
        ]
    parts.append(f"{len(series):,} samples")
    return " · ".join(parts)


def unit_of(key: str) -> str:
    quantity = key.split(".", 1)[1] if key.startswith("gpu") else key
    for known, _label, unit in (*HOST_QUANTITIES, *GPU_QUANTITIES):
        if known == quantity:
            return unit
    return ""


def _caption(label: str, unit: str) -> str:
    return f"{label} ({unit})" if unit else label


def _gpu_order(quantity: str) -> int:
    names = [key for key, _label, _unit in GPU_QUANTITIES]
    return names.index(quantity) if quantity in names else len(names)


def _number(value: float | None, digits: int | None = None) -> str:
    if value is None:
        return "—"
    if digits is None:
        digits = 2 if abs(value) < 100 else 0
    return f"{value:.{digits}f}"
