"""The system sampler: psutil for real, NVML through nvidia-ml-py's own functions
(faked here only because this machine has no NVIDIA driver; the test of the real
NVML path runs wherever one is present), the ``system`` event and its fold."""

from __future__ import annotations

import json
import os
import time

import pynvml
import pytest

from kmon.engine.event_schema import InvalidEvent
from kmon.engine.events import EpochEnd, System, event_from_json
from kmon.engine.system.gpus import GpuReader
from kmon.engine.system.host import HostReader
from kmon.engine.system.sampler import SystemSampler
from kmon.engine.view.state import RunState
from kmon.engine.view.system_text import header_field

GIB = 1024**3


def _burn(seconds: float) -> None:
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


def test_host_reader_reads_this_process_and_the_machine():
    reader = HostReader()
    first = reader.read()
    # psutil's first percentages compare with nothing: kmon says None, not 0.
    assert first["process_cpu"] is None and first["host_cpu"] is None
    _burn(0.3)
    second = reader.read()
    assert second["process_cpu"] > 20  # this thread was busy the whole time
    assert 0 <= second["host_cpu"] <= 100
    with open(f"/proc/{os.getpid()}/statm") as statm:
        rss = int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    assert abs(second["rss"] - rss) < 64 * 1024**2
    assert 0 < second["memory_used"] < second["memory_total"]
    assert second["cpus"] == os.cpu_count()
    assert len(second["load"]) == 3 and all(value >= 0 for value in second["load"])


class _Memory:
    def __init__(self, used, total):
        self.used, self.total = used, total


class _Rates:
    def __init__(self, gpu):
        self.gpu = gpu


class _Process:
    def __init__(self, pid, memory):
        self.pid, self.usedGpuMemory = pid, memory


@pytest.fixture
def fake_nvml(monkeypatch):
    """Two GPUs as nvidia-ml-py reports them; the second reports no power and no
    graphics processes (NVML_ERROR_NOT_SUPPORTED, as many boards do)."""
    calls = {"init": 0, "shutdown": 0}

    def not_supported(*_args):
        raise pynvml.NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)

    def init():
        calls["init"] += 1

    def shutdown():
        calls["shutdown"] += 1

    def power(handle):
        if handle == "gpu1":
            not_supported()
        return 251_500  # milliwatts

    def graphics(handle):
        if handle == "gpu1":
            not_supported()
        return []

    me = os.getpid()
    fakes = {
        "nvmlInit": init,
        "nvmlShutdown": shutdown,
        "nvmlDeviceGetCount": lambda: 2,
        "nvmlDeviceGetHandleByIndex": lambda index: f"gpu{index}",
        "nvmlDeviceGetName": lambda handle: b"NVIDIA H100" if handle == "gpu0" else "NVIDIA L4",
        "nvmlDeviceGetUtilizationRates": lambda h: _Rates(87 if h == "gpu0" else 3),
        "nvmlDeviceGetMemoryInfo": lambda h: _Memory(int(14.2 * GIB), 80 * GIB),
        "nvmlDeviceGetTemperature": lambda h, sensor: 71 if h == "gpu0" else 40,
        "nvmlDeviceGetPowerUsage": power,
        "nvmlDeviceGetComputeRunningProcesses": lambda h: (
            [_Process(me, 3 * GIB), _Process(999_999, None)] if h == "gpu0" else []
        ),
        "nvmlDeviceGetGraphicsRunningProcesses": graphics,
    }
    for name, fake in fakes.items():
        assert hasattr(pynvml, name), name  # the real API has it
        monkeypatch.setattr(pynvml, name, fake)
    return calls


def test_gpu_reader_reads_every_gpu_through_nvml(fake_nvml):
    reader = GpuReader()
    first, second = reader.read()
    assert reader.note is None
    assert first == {
        "index": 0,
        "name": "NVIDIA H100",
        "utilization": 87.0,
        "memory_used": int(14.2 * GIB),
        "memory_total": 80 * GIB,
        "temperature": 71.0,
        "power": 251.5,
        "processes": [
            {"pid": os.getpid(), "memory": 3 * GIB, "this": True},
            {"pid": 999_999, "memory": None},
        ],
    }
    # What a GPU does not report is None for it alone.
    assert second["name"] == "NVIDIA L4" and second["power"] is None
    assert second["utilization"] == 3.0 and second["processes"] == []
    reader.read()
    assert fake_nvml["init"] == 1  # once, not per sample
    reader.close()
    assert fake_nvml["shutdown"] == 1


def test_gpu_reader_without_a_driver_is_one_no_gpu_state(monkeypatch):
    def no_library():
        raise pynvml.NVMLError(pynvml.NVML_ERROR_LIBRARY_NOT_FOUND)

    monkeypatch.setattr(pynvml, "nvmlInit", no_library)
    reader = GpuReader()
    assert reader.read() == [] and reader.read() == []
    assert reader.note.startswith("no GPU: NVML is not available")
    reader.close()


def test_gpu_reader_with_a_driver_and_no_gpu(monkeypatch):
    monkeypatch.setattr(pynvml, "nvmlInit", lambda: None)
    monkeypatch.setattr(pynvml, "nvmlShutdown", lambda: None)
    monkeypatch.setattr(pynvml, "nvmlDeviceGetCount", lambda: 0)
    reader = GpuReader()
    assert reader.read() == [] and reader.note == "no GPU: NVML sees none"


def _nvml_present() -> bool:
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError:
        return False
    pynvml.nvmlShutdown()
    return True


@pytest.mark.skipif(not _nvml_present(), reason="no NVIDIA driver on this machine")
def test_real_nvml_reads_the_gpus():
    reader = GpuReader()
    gpus = reader.read()
    reader.close()
    assert gpus and reader.note is None
    for gpu in gpus:
        assert 0 <= gpu["utilization"] <= 100
        assert 0 < gpu["memory_used"] <= gpu["memory_total"]
        assert gpu["temperature"] is None or 0 < gpu["temperature"] < 120


def test_sampler_emits_a_sample_each_interval_until_stopped(fake_nvml):
    events = []
    sampler = SystemSampler(events.append, 0.05)
    sampler.start()
    deadline = time.monotonic() + 10
    while len(events) < 4 and time.monotonic() < deadline:
        _burn(0.02)
    sampler.stop()
    count = len(events)
    time.sleep(0.15)
    assert len(events) == count >= 4  # nothing after stop()
    assert not sampler.thread.is_alive()
    sample = events[-1]
    assert isinstance(sample, System) and sample.interval == 0.05
    assert sample.rss > 0 and sample.process_cpu is not None
    assert [gpu["name"] for gpu in sample.gpus] == ["NVIDIA H100", "NVIDIA L4"]
    assert sample.gpu_note is None
    assert fake_nvml["shutdown"] == 1
    # The log's form reads back as the same event.
    assert event_from_json(sample.to_json()) == sample


def test_sampler_goes_on_when_a_reading_fails():
    events = []

    class Broken(HostReader):
        def read(self):
            raise RuntimeError("psutil broke")

    sampler = SystemSampler(events.append, 0.05, host=Broken())
    sampler.start()
    sampler.stop()
    # The thread says why it stopped, once; the run is not touched.
    assert [event.type for event in events] == ["notice"]
    assert "system sampling stopped" in events[0].text


def test_system_event_schema():
    line = System(rss=5, gpus=[{"index": 0, "utilization": 50.0}]).to_json()
    assert event_from_json(line).gpus == [{"index": 0, "utilization": 50.0}]
    data = json.loads(line)
    for bad in ([{"index": -1}], [{"utilization": "high"}], ["gpu0"], {"index": 0}):
        data["gpus"] = bad
        with pytest.raises(InvalidEvent):
            event_from_json(json.dumps(data))
    with pytest.raises(InvalidEvent):
        event_from_json(json.dumps({"v": 1, "type": "system", "t": 1.0, "rss": -5}))
    # An older log's epoch_end has no learning_rate.
    old = json.loads(EpochEnd(logs={"loss": 1.0}).to_json())
    del old["learning_rate"]
    assert event_from_json(json.dumps(old)).learning_rate is None


def _sample(index: int) -> System:
    gpu = {"index": 0, "utilization": 87.0, "memory_used": int(14.2 * GIB),
           "memory_total": 80 * GIB, "temperature": 70.0, "power": 300.0}
    return System(t=1000.0 + index, process_cpu=180.0, rss=int(3.1 * GIB), host_cpu=10.0,
                  memory_used=GIB * index, memory_total=64 * GIB, load=[1.0, 1.0, 1.0],
                  gpus=[gpu])


def test_state_keeps_bounded_series_and_the_latest_sample():
    state = RunState()
    state.apply_all([_sample(index) for index in range(10_000)])
    system = state.system
    assert system.samples == 10_000 and system.latest.t == 1000.0 + 9_999
    memory = system.series["memory_used"]
    assert len(memory.buckets) <= system.capacity and len(memory) == 10_000
    assert memory.high == pytest.approx(9_999.0) and memory.low == 0.0  # in GiB
    assert system.series["gpu0.utilization"].last == 87.0
    assert system.no_gpu is None
    assert header_field(system.latest) == "GPU0 87% 14.2/80 GiB · CPU 180% · RSS 3.1 GiB"


def test_state_says_why_there_is_no_gpu():
    state = RunState()
    state.apply(System(t=1.0, process_cpu=50.0, rss=GIB, gpu_note="no GPU: NVML sees none"))
    assert state.system.no_gpu == "no GPU: NVML sees none"
    assert not any(key.startswith("gpu") for key in state.system.series)
    assert header_field(state.system.latest) == "CPU 50% · RSS 1.0 GiB"


class _Context:
    def __init__(self, initialized):
        self._initialized = initialized


def test_tf_memory_waits_for_tensorflow_to_set_its_devices_up(monkeypatch):
    """Listing TensorFlow's devices sets them up, after which a script's
    ``set_memory_growth`` fails: the reader never lists them first."""
    import sys
    import types

    from kmon.engine.system.tf_memory import TfMemoryReader

    listed = []
    context = _Context(False)
    config = types.SimpleNamespace(
        list_logical_devices=lambda kind: listed.append(kind)
        or [types.SimpleNamespace(name="/job:localhost/replica:0/task:0/device:GPU:0")],
        experimental=types.SimpleNamespace(
            get_memory_info=lambda name: {"current": 5 * GIB, "peak": 7 * GIB}
        ),
    )
    monkeypatch.setitem(sys.modules, "tensorflow", types.SimpleNamespace(config=config))
    monkeypatch.setitem(
        sys.modules,
        "tensorflow.python.eager.context",
        types.SimpleNamespace(context=lambda: context),
    )
    reader = TfMemoryReader()
    assert reader.read() is None and listed == []
    context._initialized = True
    assert reader.read() == {"GPU:0": {"current": 5 * GIB, "peak": 7 * GIB}}
    assert listed == ["GPU"]
    reader.read()
    assert listed == ["GPU"]  # the devices are listed once


def test_tf_memory_without_tensorflow_is_none(monkeypatch):
    import sys

    from kmon.engine.system.tf_memory import TfMemoryReader

    monkeypatch.delitem(sys.modules, "tensorflow", raising=False)
    assert TfMemoryReader().read() is None
