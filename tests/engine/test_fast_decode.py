"""The fast reader: msgspec's typed batch path decides exactly what the validated
json path decides (same events, same skips, same words), and the batch-run fold
gives the state the one-by-one fold gives."""

from __future__ import annotations

import json
import math

import pytest
from locations import DATA

from kmon.engine.event_schema import InvalidEvent
from kmon.engine.events import Batch, UnknownEventType, event_from_dict
from kmon.engine.log.eventlog import read_events
from kmon.engine.log.fast_decode import BATCH_PREFIX, decode_batch, decode_line
from kmon.engine.view.state import RunState

RECORDED = sorted(DATA.glob("*.jsonl"))


def validated(raw: bytes):
    """What the reader did before msgspec: json.loads, then the schema's check."""
    try:
        data = json.loads(raw)
        return "event", event_from_dict(data), data.get("v", 1)
    except InvalidEvent as exc:
        return "invalid", exc.type, exc.problem
    except UnknownEventType as exc:
        return "unknown", str(exc)
    except (ValueError, RecursionError):
        return "garbage"


def fast(raw: bytes):
    try:
        event, version = decode_line(raw)
        return "event", event, version
    except InvalidEvent as exc:
        return "invalid", exc.type, exc.problem
    except UnknownEventType as exc:
        return "unknown", str(exc)
    except (ValueError, RecursionError):
        return "garbage"


def same(left, right) -> bool:
    """Outcomes equal, NaN equal to NaN (a NaN loss is a legal value)."""
    return json.dumps(left, default=repr) == json.dumps(right, default=repr)


@pytest.mark.parametrize("path", RECORDED, ids=lambda path: path.name)
def test_every_recorded_line_reads_as_the_validated_path_reads_it(path):
    lines = path.read_bytes().splitlines()
    batches = [line for line in lines if line.startswith(BATCH_PREFIX)]
    assert all(decode_batch(line) is not None for line in batches)
    for line in lines:
        assert same(fast(line), validated(line)), line


def _batch(**fields) -> bytes:
    body = {"t": 5.0, "fit": 0, "epoch": 1, "step": 2, "size": 32, "logs": {"loss": 0.5}}
    body.update(fields)
    text = json.dumps(body, allow_nan=True)
    return BATCH_PREFIX + text[1:].encode()


#: Batch lines in kmon's own spelling that are wrong or odd in every way the
#: schema cares about: the typed path must refuse or accept each as json does.
ODD_BATCHES = {
    "step is a string": _batch(step="x"),
    "fit is a bool": _batch(fit=True),
    "epoch is negative": _batch(epoch=-1),
    "step is 2**63": _batch(step=2**63),
    "step is 2**63-1": _batch(step=2**63 - 1),
    "step is a float": _batch(step=2.0),
    "no step": _batch(step=None).replace(b',"step":null', b""),
    "no logs": _batch(logs=None).replace(b',"logs":null', b""),
    "logs is a list": _batch(logs=[1.0]),
    "a log is a string": _batch(logs={"loss": "0.5"}),
    "a log is NaN": _batch(logs={"loss": math.nan}),
    "a log is Infinity": _batch(logs={"loss": math.inf, "acc": -math.inf}),
    "a log past a float's range": _batch().replace(b'"loss": 0.5', b'"loss": 1e999'),
    "a log is an int": _batch(logs={"loss": 1}),
    "a log is a huge int": _batch(logs={"loss": 2**63}),
    "a log is a huge negative int": _batch(logs={"loss": -(2**63) + 1}),
    "a log is null": _batch(logs={"loss": None}),
    "a value is null": _batch(values={"loss": None, "acc": 0.25}),
    "a value is NaN": _batch(values={"loss": math.nan}),
    "values is a list": _batch(values=[0.5]),
    "t is a string": _batch(t="now"),
    "t is past a float's range": _batch().replace(b'"t": 5.0', b'"t": 1e999'),
    "t is NaN": _batch(t=math.nan),
    "size is null": _batch(size=None),
    "size is a bool": _batch(size=False),
    "span is 0": _batch(span=0),
    "span is negative": _batch(span=-4),
    "extra fields": _batch(extra={"a": [1, 2]}, other="x"),
    "a newer schema version": _batch().replace(b'"type":"batch",', b'"type":"batch","v":2,'),
    "v is a string": _batch(v="1"),
    "type given twice": _batch(type="epoch_end"),
    "a lone surrogate in a key": _batch().replace(b'"loss"', b'"\\ud800"'),
    "invalid UTF-8": _batch().replace(b'"loss"', b'"\xff\xfe"'),
    "cut short": _batch()[:40],
    "trailing garbage": _batch() + b" x",
    "CRLF ending": _batch() + b"\r",
    "nested too deep": BATCH_PREFIX + b'"logs":' + b"[" * 100_000 + b"]" * 100_000 + b"}",
}


@pytest.mark.parametrize("raw", ODD_BATCHES.values(), ids=ODD_BATCHES.keys())
def test_odd_batch_lines_read_as_the_validated_path_reads_them(raw):
    assert same(fast(raw), validated(raw))


def test_the_typed_path_takes_kmons_own_batch_lines_and_refuses_invalid_ones():
    good = Batch(t=5.0, fit=1, epoch=2, step=3, size=8, logs={"loss": 0.5}, values=None)
    assert decode_batch(good.to_json().encode()) == good
    for name in ("step is a string", "epoch is negative", "step is 2**63", "a log is NaN"):
        assert decode_batch(ODD_BATCHES[name]) is None, name
    outcome = fast(ODD_BATCHES["step is 2**63"])
    assert outcome[:2] == ("invalid", "batch") and "step is" in outcome[2]


def test_a_log_of_odd_batches_is_read_with_each_skipped_and_counted(tmp_path):
    path = tmp_path / "odd.jsonl"
    lines = [_batch(step=index) for index in range(3)]
    lines += [ODD_BATCHES["step is a string"], ODD_BATCHES["fit is a bool"]]
    lines += [ODD_BATCHES["a log is NaN"], ODD_BATCHES["cut short"], ODD_BATCHES["extra fields"]]
    lines += [ODD_BATCHES["a newer schema version"]]
    path.write_bytes(b"\n".join(lines) + b"\n")
    events, report = read_events(path)
    assert [event.step for event in events] == [0, 1, 2, 2, 2, 2]
    assert math.isnan(events[3].logs["loss"])
    assert report.invalid_events == {"batch": 2}
    assert report.garbage_lines == 1 and report.newer_schema == 1
    assert report.examples[0] == "line 4: batch: step is 'x', not int >= 0"


def _fold_one_by_one(events) -> RunState:
    state = RunState()
    for event in events:
        state.apply(event)
    return state


class _Snapshot:
    """Everything a fold set: as text (NaN equal to NaN), but for the smoothed
    loss's numbers, which the columnar fold reaches to within rounding (it takes the
    average's steps a block at a time): equal within 1e-12, relative."""

    def __init__(self, text: str, smoothed: list[float]) -> None:
        self.text, self.smoothed = text, smoothed

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, _Snapshot) or self.text != other.text:
            return False
        return len(self.smoothed) == len(other.smoothed) and all(
            _same_to_rounding(a, b) for a, b in zip(self.smoothed, other.smoothed)
        )

    def __repr__(self) -> str:
        return f"{self.text} smoothed={self.smoothed!r}"


def _same_to_rounding(a: float | None, b: float | None) -> bool:
    if a is None or b is None:  # (an empty series' last)
        return a is b
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return math.isclose(a, b, rel_tol=1e-12) or a == b


def _snapshot(state: RunState) -> _Snapshot:
    """Everything the folds set (:class:`_Snapshot`)."""
    heads = state.heads
    parts = {
        name: getattr(state, name)
        for name in (
            "batches", "total_steps", "fit", "epoch", "step", "version", "last_t",
            "last_batch_logs", "unrecovered_batches", "history", "status",
        )
    }
    for name in ("batch_loss", "batch_values"):
        series = getattr(state, name)
        parts[name] = (series.buckets, series.points, series.non_finite, series.last)
    ema = state.batch_ema
    parts["batch_ema"] = (
        [(bucket.first_index, bucket.count) for bucket in ema.buckets],
        ema.points, ema.non_finite, ema._count, ema.width,
    )
    smoothed = [ema.last, ema.low, ema.high, ema._average]
    for bucket in ema.buckets:
        smoothed += [bucket.low, bucket.high, bucket.total, bucket.last]
    parts["metric_series"] = {
        key: (series.running.buckets, series.values.buckets)
        for key, series in state.metric_series.items()
    }
    parts["pace"] = (list(state._pace.window), state._pace.paused)
    parts["epoch_losses"] = state._epoch_losses
    if heads is not None:
        parts["heads"] = (heads.train, heads.unplaced, heads.check, heads.version, heads._sizes)
    return _Snapshot(repr(parts), smoothed)


@pytest.mark.parametrize("path", RECORDED, ids=lambda path: path.name)
def test_the_batch_run_fold_gives_the_one_by_one_folds_state(path):
    events, _ = read_events(path)
    assert any(event.type == "batch" for event in events)
    bulk = RunState()
    # In drains of a few events, as a monitor gets them, and all at once.
    for start in range(0, len(events), 7):
        bulk.apply_all(events[start : start + 7])
    whole = RunState()
    whole.apply_all(events)
    assert _snapshot(bulk) == _snapshot(whole) == _snapshot(_fold_one_by_one(events))


def test_the_batch_run_fold_of_a_model_without_a_loss_and_of_nan_losses(stream):
    stream.run_start("gan.py").fit_start(epochs=2, steps=4)
    for _ in range(2):
        stream.epoch_start()
        for step in range(4):
            stream.batch({"d_loss": 0.5 + step, "g_loss": 1.5}, values={"d_loss": 0.1 * step})
        stream.epoch_end({"d_loss": 0.5, "g_loss": 1.5})
    stream.fit_start(epochs=1, steps=3).epoch_start()
    stream.batch({"loss": math.nan}, values={"loss": math.nan}).batch({"loss": 1.0})
    events = stream.run_end().events
    whole = RunState()
    whole.apply_all(events)
    assert whole.metric_series and whole.batch_loss.non_finite == 1
    assert _snapshot(whole) == _snapshot(_fold_one_by_one(events))
