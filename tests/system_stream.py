"""A recorded-looking run with ``system`` samples and learning rates, for the System
tab's, the header's and the learning-rate panel's tests: fixed numbers, so the
screens are the same on every machine."""

from __future__ import annotations

from event_stream import EventStream

from kmon.engine.events import LearningRate, System

GIB = 1024**3


def gpu(index: int, utilization: float, used_gib: float, *, processes=None) -> dict:
    return {
        "index": index,
        "name": "NVIDIA A100-SXM4-80GB",
        "utilization": utilization,
        "memory_used": int(used_gib * GIB),
        "memory_total": 80 * GIB,
        "temperature": 60.0 + utilization / 10,
        "power": 100.0 + utilization * 2,
        "processes": processes if processes is not None else [
            {"pid": 4242, "memory": int(used_gib * GIB), "this": True}
        ],
    }


def sample(second: int, *, gpus: bool) -> dict:
    """The fields of the ``second``-th sample: CPU and memory that rise and fall."""
    wave = (second * 37) % 100
    fields = {
        "interval": 1.0,
        "process_cpu": 100.0 + wave * 0.8,
        "rss": int((2.0 + second * 0.02) * GIB),
        "host_cpu": 20.0 + wave * 0.3,
        "cpus": 16,
        "memory_used": int((30 + second * 0.05) * GIB),
        "memory_total": 64 * GIB,
        "load": [2.0 + wave / 100, 1.8, 1.5],
    }
    if gpus:
        fields["gpus"] = [gpu(0, 50.0 + (wave % 40), 10.0 + second * 0.05)]
    else:
        fields["gpu_note"] = "no GPU: NVML is not available (NVML Shared Library Not Found)"
    return fields


def system_run(*, gpus: bool = True, epochs: int = 6) -> EventStream:
    """A fit of ``epochs`` epochs of 10 steps, a sample a second, and a learning
    rate that ReduceLROnPlateau halves twice; the last sample is fixed to the
    header's example (``GPU0 87% 14.2/80 GiB · CPU 180% · RSS 3.1 GiB``)."""
    stream = EventStream(tick=0.1).run_start("/x/train.py").script_start()
    stream.fit_start(epochs=epochs, steps=10)
    stream.add(LearningRate, fit=0, value=1e-3)
    rates = [1e-3, 1e-3, 5e-4, 5e-4, 2.5e-4, 2.5e-4]
    second = 0
    for epoch in range(epochs):
        stream.epoch_start()
        for step in range(10):
            stream.batch({"loss": 1.0 / (epoch + 1)}, {"loss": 1.0 / (epoch + 1)}, size=32)
            if step % 2 == 1:
                stream.add(System, **sample(second, gpus=gpus))
                second += 1
        stream.epoch_end(learning_rate=rates[epoch % len(rates)])
    last = sample(second, gpus=gpus)
    last.update(process_cpu=180.0, rss=int(3.1 * GIB))
    if gpus:
        last["gpus"] = [gpu(0, 87.0, 14.2)]
    stream.add(System, **last)
    return stream.fit_end().run_end()
