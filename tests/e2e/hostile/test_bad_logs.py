"""Crafted and damaged logs: every event is validated as it is read, so a value of
the wrong type in any field of any event type is skipped and counted (or, when the
schema allows it, shown), never a crash of the replay, the monitor or `kmon ps`.
Also: a 50 MB line, a CSV that is not UTF-8, `--from` modules that exit on import.
"""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import pytest
from event_stream import EventStream
from kmon_process import run_kmon
from tui_helpers import running, wait_until

from kmon.engine.events import (
    Alarm,
    Batch,
    EpochEnd,
    EpochStart,
    Event,
    FitEnd,
    FitStart,
    Log,
    Notice,
    Probes,
    RunEnd,
    RunStart,
    ScriptStart,
    TrainEval,
    ValEnd,
    ValueKinds,
)
from kmon.engine.headless.reporter import HeadlessReporter
from kmon.engine.log.eventlog import read_events
from kmon.engine.log.sources import LogFileSource
from kmon.engine.view.state import RunState

HEADS = {
    "a": {"loss": "mse", "weight": 1.0, "metrics": ["a_mae"], "loss_key": "a_loss"},
    "b": {"loss": "mse", "weight": 0.5, "metrics": [], "loss_key": "b_loss"},
}

#: One event of every type with every field set: what gets a field replaced.
BASES: list[Event] = [
    RunStart(script="/x/train.py", argv=["train.py"], pid=1, cwd="/x", t=10.0),
    FitStart(
        fit=0,
        epochs=3,
        steps=2,
        outputs=["a", "b"],
        model="m",
        batch_size=8,
        samples=16,
        train_mode_layers=["dropout"],
        weighting="class_weight",
        heads=HEADS,
        extra_losses=["reg"],
        t=10.5,
    ),
    ValueKinds(fit=0, kinds={"loss": "mean"}, heads=HEADS, t=10.6),
    ScriptStart(t=10.65),
    Probes(
        fit=0,
        data=True,
        loss=True,
        predictions=True,
        gradients=True,
        probe_samples=64,
        budget=0.011,
        gradient_budget=0.01,
        every=4,
        gradient_every=8,
        t=10.7,
    ),
    EpochStart(fit=0, epoch=0, t=11.0),
    Batch(fit=0, epoch=0, step=0, size=8, logs={"loss": 1.0}, values={"loss": 1.0}, t=11.1),
    ValEnd(fit=0, epoch=0, logs={"loss": 0.9}, t=11.2),
    TrainEval(fit=0, epoch=0, logs={"loss": 0.8}, t=11.3),
    EpochEnd(fit=0, epoch=0, logs={"loss": 1.0}, t=11.4),
    Log(stream="stdout", text="hello", t=11.5),
    Notice(level="warning", text="careful", t=11.6),
    Alarm(
        kind="nan_loss",
        message="the loss is NaN",
        evidence={"loss": 1.0, "layers": ["a"]},
        fit=0,
        epoch=0,
        step=1,
        subject="a",
        t=11.7,
    ),
    FitEnd(fit=0, stopped_early=True, t=11.8),
    RunEnd(status="failed", exit_code=1, error={"message": "x", "traceback": "y"}, fits=1, t=12),
]

BAD_VALUES = [None, "x", [], {}, True, 1.5, -1, 10**30]

#: Which of BAD_VALUES (by repr) each field annotation accepts: the schema's
#: promise, written out by hand so that the reader is checked against it.
ACCEPTED = {
    "int": (),
    "int | None": ("None",),
    "float": ("1.5", "-1"),
    "float | None": ("None", "1.5", "-1"),
    "str": ("'x'",),
    "str | None": ("None", "'x'"),
    "bool": ("True",),
    "list[str]": ("[]",),
    "list[str] | None": ("None", "[]"),
    "dict[str, float]": ("{}",),
    "dict[str, float | None] | None": ("None", "{}"),
    "dict[str, str]": ("{}",),
    "dict[str, str] | None": ("None", "{}"),
    "dict[str, Any]": ("{}",),
    "dict[str, dict[str, Any]] | None": ("None", "{}"),
}
SPECIAL_ACCEPTED = {"exit_code": ("-1",), "v": ("10**30",)}


def _accepts(event: Event, name: str, value) -> bool:
    shown = "10**30" if value == 10**30 and type(value) is int else repr(value)
    if name in SPECIAL_ACCEPTED:
        return shown in SPECIAL_ACCEPTED[name]
    annotation = str(type(event).__dataclass_fields__[name].type)
    return shown in ACCEPTED[annotation]


def _frame() -> list[Event]:
    """A valid run of 3 epochs × 2 steps: what must survive any bad event in it."""
    stream = EventStream().extend(BASES[:3])  # run_start, fit_start, probes
    stream.t = 11.0
    for epoch in range(3):
        stream.epoch_start()
        for _ in range(2):
            stream.wait(0.1).batch({"loss": 1.0 / (stream.t - 10)}, size=8)
        stream.epoch_end({"loss": 0.5 + epoch})
    return stream.fit_end().wait(1.0).run_end().events


def _mutations():
    for base in BASES:
        for name in base.to_dict():
            if name != "type":
                yield pytest.param(base, name, id=f"{base.type}.{name}")


def _mutated_line(base: Event, name: str, value) -> str:
    data = base.to_dict()
    data[name] = value
    return json.dumps(data)


def _fold(events: list[Event]) -> str:
    """What the headless replay prints for ``events`` (the same fold the monitor's
    state does): it must never raise."""
    out, err = io.StringIO(), io.StringIO()
    reporter = HeadlessReporter(out, err, log_path="x.jsonl")
    reporter.handle(events)
    reporter.finish()
    return out.getvalue()


@pytest.mark.parametrize(("base", "name"), _mutations())
def test_a_wrong_value_in_any_field_is_skipped_or_shown_never_a_crash(tmp_path, base, name):
    frame = _frame()
    lines = [event.to_json() for event in frame]
    path = tmp_path / "run.jsonl"
    for value in BAD_VALUES:
        bad = _mutated_line(base, name, value)
        path.write_text("\n".join([*lines[:6], bad, *lines[6:]]) + "\n")
        events, report = read_events(path)
        if _accepts(base, name, value):
            assert report.skipped == 0, (value, report)
            assert events[:6] + events[7:] == frame
        else:
            assert report.invalid_events == {base.type: 1}, (value, report)
            assert report.examples == [f"line 7: {base.type}: {_problem(base, name, value)}"]
            assert events == frame, value
        _fold(events)
        state = RunState()
        state.apply_all(events)
        if base.type not in ("epoch_end", "fit_start"):  # accepted ones add an epoch, a fit
            assert len(state.history) == 3


def _problem(base: Event, name: str, value) -> str:
    """The start of what the reader says (its wording is the reader's own; the test
    pins the field named)."""
    from kmon.engine.events import event_from_dict

    try:
        event_from_dict(json.loads(_mutated_line(base, name, value)))
    except ValueError as exc:
        problem = exc.problem
    assert problem.startswith(f"{name} is "), problem
    return problem


def _crafted_log(path: Path) -> int:
    """The frame with every bad value of every field of every type in it; returns
    how many of them the schema rejects."""
    lines = [event.to_json() for event in _frame()]
    bad, rejected = [], 0
    for param in _mutations():
        base, name = param.values
        for value in BAD_VALUES:
            bad.append(_mutated_line(base, name, value))
            rejected += not _accepts(base, name, value)
    path.write_text("\n".join([*lines[:6], *bad, *lines[6:]]) + "\n")
    return rejected


def test_headless_replay_of_a_log_full_of_wrong_types_warns_in_one_line(tmp_path):
    rejected = _crafted_log(tmp_path / "run.jsonl")
    result = run_kmon("replay", "--headless", "run.jsonl", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    _, report = read_events(tmp_path / "run.jsonl")
    assert sum(report.invalid_events.values()) == report.skipped == rejected > 500
    assert result.stderr == f"kmon: {report.summary()} · in run.jsonl\n"
    assert report.summary().startswith(f"skipped {rejected} invalid events (")
    assert "[kmon] epoch 3/" in result.stdout  # the valid run around them is all there


def test_ps_attach_and_stop_survive_a_run_log_full_of_wrong_types(tmp_path):
    runs = tmp_path / "kmon-runs"
    runs.mkdir()
    _crafted_log(runs / "20260101-000000-crafted.jsonl")
    start = RunStart(script="/x/bad.py", pid=1, t=1.0).to_dict()
    for name in ("t", "pid", "script", "scenario", "variant", "argv"):
        for value in BAD_VALUES:
            broken = {**start, name: value}
            stem = f"20260101-000001-{name}-{abs(hash(repr(value))) % 10**6}"
            (runs / f"{stem}.jsonl").write_text(
                json.dumps(broken) + "\n" + '{"v":1,"type":"epoch_end","t":"x","epoch":"x"}\n'
            )
    good = runs / "20260101-000002-good.jsonl"
    good.write_text("\n".join(event.to_json() for event in _frame()) + "\n")
    listed = run_kmon("ps", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert "Traceback" not in listed.stdout + listed.stderr
    assert "20260101-000002-good" in listed.stdout
    for command in (["stop", "20260101-000000-crafted"], ["attach", "20260101-000001-t"]):
        result = run_kmon(*command, cwd=tmp_path)
        assert "Traceback" not in result.stdout + result.stderr, result.stderr
        assert result.returncode == 2 and len(result.stderr.splitlines()) == 1, result.stderr


async def test_the_monitor_replays_a_log_full_of_wrong_types(tmp_path):
    path = tmp_path / "run.jsonl"
    _crafted_log(path)
    source = LogFileSource(path)

    from kmon.tui.app import MonitorApp

    app = MonitorApp(source)
    async with running(app, (100, 30)) as pilot:
        await wait_until(pilot, lambda: not source.running and app.state.finished, 10)
        for key in ("l", "o", "h", "a", "l"):
            await pilot.press(key)
            await pilot.pause()
        assert app.state.fits and app.state.history
        assert app.is_running  # no crash: the app is still up
    assert source.report.invalid_events and source.report.garbage_lines == 0


def _log_with_a_50_mb_line(path: Path) -> None:
    frame = [event.to_json().encode() for event in _frame()]
    huge = b'{"v":1,"type":"log","t":11.05,"stream":"stdout","text":"' + b"x" * 50_000_000
    path.write_bytes(b"\n".join([*frame[:4], huge + b'"}', *frame[4:]]) + b"\n")


def test_a_50_mb_line_is_skipped_by_the_headless_replay_in_seconds(tmp_path):
    _log_with_a_50_mb_line(tmp_path / "run.jsonl")
    started = time.monotonic()
    result = run_kmon("replay", "--headless", "run.jsonl", cwd=tmp_path)
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert result.stderr == (
        "kmon: skipped 1 line(s) over 1 MiB (first: line 5: over 1 MiB) · in run.jsonl\n"
    )
    assert "3 epochs, 6 steps" in result.stdout
    assert elapsed < 10  # kmon's start included; the line itself takes well under 1 s


def test_a_50_mb_line_does_not_stall_the_monitors_replay(tmp_path):
    path = tmp_path / "run.jsonl"
    _log_with_a_50_mb_line(path)
    source = LogFileSource(path)
    events: list[Event] = []
    started = time.monotonic()
    while source.running:
        events += source.drain()
    assert time.monotonic() - started < 2.0  # took minutes: the line grew 64 KiB a read
    assert [event for event in events if event.type == "epoch_end"] == [
        event for event in _frame() if event.type == "epoch_end"
    ]
    assert source.report.long_lines == 1


def test_a_csv_that_is_not_utf8_is_replayed_without_its_damaged_rows(tmp_path):
    (tmp_path / "log.csv").write_bytes(b"epoch,loss\n0,1.0\n1,0.\xff5\n2,0.25\n")
    result = run_kmon("replay", "--headless", "log.csv", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr == (
        "kmon: skipped 1 unreadable line(s) (first: line 3: not UTF-8 text) · in log.csv\n"
    )
    assert "final loss=0.2500" in result.stdout
    (tmp_path / "head.csv").write_bytes(b"ep\xffoch,loss\n0,1.0\n")
    refused = run_kmon("replay", "--headless", "head.csv", cwd=tmp_path)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert refused.stderr.startswith("kmon: error: not UTF-8 text at byte 2, in the header row")
    assert len(refused.stderr.splitlines()) == 1


@pytest.mark.parametrize(
    ("body", "raised"),
    [
        ("import sys\nsys.exit(3)\n", "SystemExit(3)"),
        ("import sys\nsys.exit()\n", "SystemExit()"),
        ("raise KeyboardInterrupt\n", "KeyboardInterrupt()"),
    ],
)
def test_a_from_module_that_exits_on_import_is_one_line(tmp_path, body, raised):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "bad.py").write_text(body)
    commands = (
        ["list", "--from", "mine"],
        ["run", "anything", "--from", "mine"],
        ["--from", "mine", "list"],  # before the command: it was ignored, silently
        ["--from", "mine", "run", "anything"],
    )
    for command in commands:
        result = run_kmon(*command, cwd=tmp_path)
        assert result.returncode == 2, (command, result)
        assert result.stdout == "" and "Traceback" not in result.stderr
        assert result.stderr == (
            f"kmon: error: cannot load scenario mine/bad.py: raised {raised} on import\n"
        )
