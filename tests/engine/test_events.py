"""JSON Lines form of kmon events."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from kmon.engine.event_schema import REQUIRED_FIELDS
from kmon.engine.events import (
    CONTROL_TYPES,
    EVENT_TYPES,
    SCHEMA_VERSION,
    Alarm,
    Baselines,
    Batch,
    EpochEnd,
    EpochStart,
    Event,
    FitEnd,
    FitStart,
    InvalidEvent,
    LearningRate,
    Log,
    Notice,
    Probes,
    RunEnd,
    RunStart,
    ScriptStart,
    System,
    TrainEval,
    UnknownEventType,
    ValEnd,
    ValueKinds,
    event_from_dict,
    event_from_json,
)
from kmon.engine.json_text import encode_batch_lines

T = 1_700_000_000.25

#: One event of every type, with every field set to something other than its default.
SAMPLES: dict[str, Event] = {
    "run_start": RunStart(
        script="/tmp/train.py",
        argv=["/tmp/train.py", "--lr", "0.1"],
        scenario=None,
        variant="fast",
        pid=1234,
        cwd="/tmp",
        t=T,
    ),
    "script_start": ScriptStart(t=T + 0.5),
    "fit_start": FitStart(
        fit=2,
        epochs=7,
        steps=None,
        outputs=["class", "box"],
        model="resnet",
        initial_epoch=3,
        batch_size=64,
        samples=1000,
        steps_per_execution=4,
        train_mode_layers=["dropout: Dropout(0.5)"],
        early_stopping=["EarlyStopping"],
        t=T + 1,
    ),
    "epoch_start": EpochStart(fit=1, epoch=5, t=T + 2),
    "batch": Batch(
        fit=1,
        epoch=5,
        step=17,
        size=32,
        logs={"loss": 0.5, "auc": 0.75},
        values={"loss": 0.4, "auc": None},
        span=2,
        t=T + 3,
    ),
    "value_kinds": ValueKinds(fit=1, kinds={"loss": "mean", "auc": "not recoverable: x"}, t=T),
    "train_eval": TrainEval(fit=1, epoch=5, logs={"loss": 0.3}, t=T + 4.5),
    "val_end": ValEnd(fit=1, epoch=5, logs={"loss": 0.25}, t=T + 4),
    "epoch_end": EpochEnd(fit=1, epoch=5, logs={"loss": 0.5, "val_loss": 0.25}, t=T + 5),
    "fit_end": FitEnd(fit=1, stopped_early=True, t=T + 6),
    "log": Log(stream="stderr", text='héllo "quoted"\ttab', t=T + 7),
    "notice": Notice(level="warning", text="careful", t=T + 8),
    "alarm": Alarm(
        kind="prediction_variance",
        state="cleared",
        severity="error",
        message="head out: predictions vary again",
        evidence={"ratio": 0.5, "measure": "std ratio", "checks": 2},
        fit=1,
        epoch=5,
        step=3,
        subject="out",
        t=T + 8.5,
    ),
    "probes": Probes(
        fit=1,
        data=True,
        loss=True,
        predictions=True,
        gradients=False,
        probe_samples=256,
        budget=0.008,
        gradient_budget=None,
        gradient_every=50,
        t=T + 8.7,
    ),
    "baselines": Baselines(
        fit=1,
        by_head={
            "out": {
                "loss": "binary_crossentropy",
                "value": 0.693,
                "method": "the entropy of the label prior",
                "rows": 4096,
                "weighted": None,
            }
        },
        total=0.693,
        source="training arrays",
        t=T + 8.8,
    ),
    "learning_rate": LearningRate(fit=1, value=0.001, epoch=2, step=40, t=T + 8.85),
    "system": System(
        interval=1.0,
        process_cpu=180.5,
        rss=3 * 1024**3,
        host_cpu=12.5,
        cpus=16,
        memory_used=20 * 1024**3,
        memory_total=64 * 1024**3,
        load=[2.5, 2.0, 1.5],
        gpus=[
            {
                "index": 0,
                "name": "NVIDIA H100",
                "utilization": 87.0,
                "memory_used": 14 * 1024**3,
                "memory_total": 80 * 1024**3,
                "temperature": 71.0,
                "power": 251.5,
                "processes": [{"pid": 4242, "memory": 3 * 1024**3, "this": True}],
            }
        ],
        tf_memory={"GPU:0": {"current": 1024, "peak": 2048}},
        t=T + 8.9,
    ),
    "run_end": RunEnd(
        status="failed",
        exit_code=1,
        error={"message": "ValueError: x", "traceback": "Traceback...\n"},
        fits=3,
        t=T + 9,
    ),
}


def test_samples_cover_every_event_type():
    assert set(SAMPLES) == set(EVENT_TYPES)
    for name, event in SAMPLES.items():
        assert type(event) is EVENT_TYPES[name]
        assert event.type == name


def test_control_types_are_everything_but_batch():
    assert CONTROL_TYPES == set(EVENT_TYPES) - {"batch"}


@pytest.mark.parametrize("name", sorted(EVENT_TYPES))
def test_round_trip(name):
    event = SAMPLES[name]
    line = event.to_json()
    assert "\n" not in line
    back = event_from_json(line)
    assert type(back) is type(event)
    assert back == event


@pytest.mark.parametrize("name", sorted(EVENT_TYPES))
def test_line_header(name):
    data = json.loads(SAMPLES[name].to_json())
    assert data["v"] == SCHEMA_VERSION == 1
    assert data["type"] == name
    assert data["t"] == SAMPLES[name].t
    # The header comes first, so a line is recognisable at a glance.
    assert list(data)[:3] == ["v", "type", "t"]


@pytest.mark.parametrize("name", sorted(EVENT_TYPES))
def test_default_constructed_events_round_trip(name):
    event = EVENT_TYPES[name]()
    assert isinstance(event.t, float)
    assert event_from_json(event.to_json()) == event


def test_nan_and_inf_survive_round_trip():
    event = Batch(step=3, logs={"loss": math.nan, "grad": math.inf, "low": -math.inf})
    line = event.to_json()
    assert '"loss":NaN' in line and '"grad":Infinity' in line
    back = event_from_json(line)
    assert math.isnan(back.logs["loss"])
    assert back.logs["grad"] == math.inf
    assert back.logs["low"] == -math.inf


def test_numpy_scalars_are_written_as_numbers():
    np = pytest.importorskip("numpy")
    event = EpochEnd(logs={"loss": np.float32(0.5), "n": np.int64(3)})
    back = event_from_json(event.to_json())
    assert back.logs == {"loss": 0.5, "n": 3}


def test_unknown_type_raises():
    with pytest.raises(UnknownEventType) as info:
        event_from_json('{"v":1,"type":"gpu_stats","t":1.0}')
    assert str(info.value) == "gpu_stats"
    assert isinstance(info.value, ValueError)


def test_extra_unknown_fields_are_ignored():
    data = json.loads(SAMPLES["epoch_end"].to_json())
    data["memory_mb"] = 512
    data["nested"] = {"a": [1, 2]}
    data["v"] = 2
    back = event_from_dict(data)
    assert back == SAMPLES["epoch_end"]


def test_missing_optional_fields_take_defaults():
    back = event_from_json('{"v":1,"type":"fit_end","t":5.0,"fit":0}')
    assert back == FitEnd(fit=0, stopped_early=False, t=5.0)


@pytest.mark.parametrize(
    "data",
    [[1, 2], {"v": 1}, "batch", 3, None],
    ids=["list", "no-type", "string", "number", "null"],
)
def test_not_an_event_raises_value_error(data):
    with pytest.raises(ValueError):
        event_from_dict(data)


@pytest.mark.parametrize("bad_type", [["batch"], {"a": 1}, 7, None])
def test_non_string_type_is_not_an_event(bad_type):
    # Garbage, not "an unknown type from a newer kmon" (and never a TypeError).
    with pytest.raises(ValueError) as info:
        event_from_dict({"v": 1, "type": bad_type, "t": 1.0})
    assert not isinstance(info.value, UnknownEventType)


@pytest.mark.parametrize(
    "batch",
    [
        Batch(fit=2, epoch=3, step=5, size=32, logs={"loss": 0.51233, "acc": 0.75}, t=1.5),
        Batch(logs={"loss": float("nan"), "x": float("inf"), "y": -float("inf")}, values=None),
        Batch(logs={'a"b\u00e9\n': 1e-300, "c": -0.0, "d": 5e-324}, values={"a": None}),
        Batch(logs={"loss": 1.0}, values={"loss": 12345678901234567890.0}, span=4),
        # Anything but Python floats, ints and None takes the encoder's own path.
        Batch(logs={"loss": np.float32(0.5)}, values={"loss": 1.0}),
        Batch(logs={"loss": 1.0}, values={"loss": np.float64(2.0)}),
        Batch(logs={"loss": 1, "flag": True}, values={}),
        Batch(size=np.int64(3), t=np.float64(2.0)),
        Batch(fit=True, size=True),
    ],
)
def test_batch_lines_read_as_what_the_generic_encoder_writes(batch):
    # msgspec writes most batch lines, for speed: every value reads back the same
    # (floats as the same doubles, in its own notation), NaN and infinities stay
    # bare tokens, and the line opens as fast readers expect.
    line = batch.to_json()
    read, expected = json.loads(line), json.loads(Event.to_json(batch))
    assert list(read) == list(expected)
    assert list(read["logs"]) == list(batch.logs)
    assert _same(read, expected)
    assert line.startswith('{"v":1,"type":"batch",') and "\n" not in line


def _same(a, b) -> bool:
    """Equal, NaN equal to NaN, -0.0 told from 0.0, bools from ints."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, float):
        return (a != a and b != b) or (a == b and math.copysign(1, a) == math.copysign(1, b))
    return a == b


def test_batch_lines_are_written_by_msgspec_unless_a_value_needs_the_generic_encoder():
    fast = Batch(logs={"loss": 1e-05, "acc": 1e16}, values={"loss": 2.5}, t=1.0)
    assert '"loss":0.00001' in fast.to_json()  # msgspec's notation, the same double
    for slow in (
        Batch(logs={"loss": float("nan")}, t=1.0),
        Batch(logs={"loss": 1.0}, values={"loss": float("inf")}, t=1.0),
        Batch(logs={"loss": np.float32(0.5)}, t=1.0),
        Batch(logs={"loss": 1.0}, t=float("nan")),
        Batch(fit=True, logs={"loss": 1.0}, t=1.0),
    ):
        assert slow.to_json() == Event.to_json(slow)
    assert '"loss":NaN' in Batch(logs={"loss": float("nan")}).to_json()


def test_a_tape_s_batch_lines_encoded_at_once_are_each_event_s_line():
    # The writer encodes a batch tape's events in one msgspec call: the same lines,
    # or None (then one by one) when any event needs the generic encoder.
    good = [
        Batch(fit=0, epoch=1, step=i, size=32, logs={"loss": 1 / (i + 1), "acc": 1e-05},
              values={"loss": 1e16 + i} if i % 2 else None, t=1.5 + i, span=1 + i % 3)
        for i in range(40)
    ]  # fmt: skip
    assert encode_batch_lines(good, SCHEMA_VERSION) == [batch.to_json() for batch in good]
    assert encode_batch_lines([], SCHEMA_VERSION) == []
    for bad in (
        Batch(logs={"loss": float("nan")}, t=1.0),
        Batch(logs={"loss": np.float32(0.5)}, t=1.0),
        Batch(fit=True, logs={"loss": 1.0}, t=1.0),
        Batch(logs={1: 1.0}, t=1.0),
        Notice(level="warning", topic="recovery", text="x"),
    ):
        assert encode_batch_lines([*good[:3], bad, *good[3:5]], SCHEMA_VERSION) is None


# -- schema validation on read -------------------------------------------------------


def _sample_with(type_name: str, **changes) -> dict:
    data = SAMPLES[type_name].to_dict()
    data.update(changes)
    return data


@pytest.mark.parametrize(
    ("type_name", "name", "value"),
    [
        ("batch", "step", "3"),
        ("batch", "step", 1.5),
        ("batch", "fit", True),
        ("batch", "epoch", -1),
        ("batch", "span", 10**30),
        ("batch", "size", "32"),
        ("batch", "logs", {"loss": "0.5"}),
        ("batch", "logs", {"loss": None}),
        ("batch", "logs", {"loss": True}),
        ("batch", "logs", [0.5]),
        ("batch", "values", {"loss": "x"}),
        ("batch", "values", [None]),
        ("batch", "t", "yesterday"),
        ("batch", "t", math.nan),
        ("batch", "t", math.inf),
        ("epoch_end", "logs", None),
        ("epoch_end", "epoch", None),
        ("fit_start", "epochs", "7"),
        ("fit_start", "steps", -4),
        ("fit_start", "outputs", [1, 2]),
        ("fit_start", "outputs", "out"),
        ("fit_start", "heads", {"out": {"weight": "x"}}),
        ("fit_start", "heads", {"out": {"metrics": 3}}),
        ("fit_start", "heads", {"out": 1}),
        ("value_kinds", "kinds", {"loss": 1}),
        ("value_kinds", "heads", [1]),
        ("fit_end", "stopped_early", 1),
        ("log", "text", None),
        ("log", "text", ["a"]),
        ("notice", "level", 3),
        ("alarm", "evidence", []),
        ("alarm", "epoch", "5"),
        ("run_start", "argv", "train.py"),
        ("run_start", "pid", "1234"),
        ("run_end", "error", {"message": 1}),
        ("run_end", "exit_code", 10**30),
        ("run_end", "status", None),
        ("run_end", "v", "1"),
        ("run_end", "v", 0),
    ],
)
def test_a_field_of_the_wrong_type_makes_an_invalid_event(type_name, name, value):
    with pytest.raises(InvalidEvent) as info:
        event_from_dict(_sample_with(type_name, **{name: value}))
    assert info.value.type == type_name
    assert info.value.problem.startswith(f"{name} is ")
    assert isinstance(info.value, ValueError)  # what readers already skip


@pytest.mark.parametrize(
    ("type_name", "name"),
    [(type_name, name) for type_name, names in REQUIRED_FIELDS.items() for name in ("t", *names)],
)
def test_an_event_without_a_required_field_is_invalid(type_name, name):
    data = _sample_with(type_name)
    del data[name]
    with pytest.raises(InvalidEvent) as info:
        event_from_dict(data)
    assert info.value.problem == f"no {name}"


def test_every_event_type_has_its_required_fields_named():
    assert set(REQUIRED_FIELDS) == set(EVENT_TYPES)
    for type_name, names in REQUIRED_FIELDS.items():
        assert set(names) <= set(SAMPLES[type_name].to_dict()), type_name


@pytest.mark.parametrize(
    ("type_name", "changes"),
    [
        ("batch", {"logs": {"loss": math.nan, "n": 3, "x": -math.inf}}),
        ("batch", {"values": {"loss": None, "n": 2}, "size": None}),
        ("batch", {"values": None, "t": 12}),
        ("epoch_end", {"logs": {}}),
        ("run_end", {"exit_code": -9, "error": None}),
        ("fit_start", {"heads": {"out": {"loss": None, "weight": 2, "new_key": [1]}}}),
        ("alarm", {"evidence": {"ratio": math.nan, "layers": ["a"], "nested": {"a": 1}}}),
        ("run_start", {"v": 2, "gpu": "a100"}),
    ],
)
def test_legal_edge_values_are_read(type_name, changes):
    event = event_from_dict(_sample_with(type_name, **changes))
    for name, value in changes.items():
        if name not in ("v", "gpu"):
            got = getattr(event, name)
            assert got == value or (got != got and value != value), name


def test_fields_added_after_schema_v1_shipped_stay_optional():
    # What a log from before these fields existed holds (docs/event-log.md's example lines).
    old_fit = '{"v":1,"type":"fit_start","t":1.0,"fit":0,"epochs":8,"steps":25,"outputs":["d"]}'
    old_batch = (
        '{"v":1,"type":"batch","t":1.5,"fit":0,"epoch":0,"step":0,"size":64,"logs":{"loss":1}}'
    )
    old_end = '{"v":1,"type":"run_end","t":2.0,"status":"ok","exit_code":0,"error":null}'
    assert event_from_json(old_fit).steps_per_execution == 1
    assert event_from_json(old_batch).span == 1
    assert event_from_json(old_end).fits == 0
