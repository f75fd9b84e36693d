"""Headless epoch lines for fast epochs (grouped) and ``--quiet`` (the summary only),
from events fed to the reporter with their own timestamps."""

from __future__ import annotations

import io
import re

from event_stream import EventStream

from kmon.engine.events import (
    Alarm,
    Event,
    Log,
    Notice,
)
from kmon.engine.headless.reporter import FAST_EPOCH_SECONDS, GROUP_SECONDS, HeadlessReporter

T0 = 1_800_000_000.0


def run_events(fits: int, epochs: int, seconds_per_epoch: float) -> list[Event]:
    """A run of ``fits`` fits of ``epochs`` epochs each, ``seconds_per_epoch`` apart."""
    stream = EventStream(T0).run_start("/x/train.py")
    for fit in range(fits):
        stream.fit_start(epochs=epochs, steps=2)
        for epoch in range(epochs):
            stream.epoch_start().wait(seconds_per_epoch)
            stream.epoch_end({"loss": 1.0 / (1 + fit * epochs + epoch)})
        stream.fit_end()
    return stream.run_end().events


def report(events: list[Event], **options) -> list[str]:
    out = io.StringIO()
    reporter = HeadlessReporter(out, io.StringIO(), **options)
    reporter.handle(events)
    reporter.finish()
    return out.getvalue().splitlines()


def epoch_lines(lines: list[str]) -> list[str]:
    return [line for line in lines if line.startswith(("[kmon] epoch ", "[kmon] epochs "))]


def covered(lines: list[str]) -> list[int]:
    """Every epoch number of the run the epoch lines cover, in order (a later fit's
    lines give the run's numbers after the fit's own)."""
    numbers = []
    for line in epoch_lines(lines):
        found = re.search(r"run epochs? (\d+)(?:–(\d+))?", line) or re.match(
            r"\[kmon\] epochs? (\d+)(?:–(\d+))?", line
        )
        first, last = int(found[1]), int(found[2] or found[1])
        numbers += range(first, last + 1)
    return numbers


def test_epochs_a_few_a_second_apart_each_get_their_line():
    lines = report(run_events(1, 5, FAST_EPOCH_SECONDS * 1.1))
    assert [line.split(" (")[0] for line in epoch_lines(lines)] == [
        f"[kmon] epoch {n}/5" for n in range(1, 6)
    ]


def test_fast_epochs_are_grouped_about_every_half_second_between_each_fits_first_and_last():
    # 200 epochs 1/64 s apart (exact in binary): 3.1 s of epochs per fit.
    lines = report(run_events(2, 200, 1 / 64))
    shown = epoch_lines(lines)
    assert covered(lines) == list(range(1, 401))  # every epoch, once, in order
    assert len(shown) <= 2 * (3 + 3.2 / GROUP_SECONDS)  # first, groups, rest, last
    # Epochs count within each fit, as Keras's own lines do; later fits add the run's count.
    assert shown[0].startswith("[kmon] epoch 1/200 (fit 0) · ")
    group = shown[1]
    assert group.startswith("[kmon] epochs 2–33/200 (fit 0, 32 epochs in 0.5 s) · loss=")
    assert group.endswith(f"loss={1 / 33:.4f}")  # the group's last epoch
    fit_end = next(line for line in shown if "200/200 " in line)
    assert fit_end.startswith("[kmon] epoch 200/200 (fit 0) · ")  # its own line
    assert fit_end.endswith(f"loss={1 / 200:.4f}")
    # The next fit starts with a line of its own, after its fit line.
    assert shown[shown.index(fit_end) - 1].startswith("[kmon] epochs ")
    assert shown[shown.index(fit_end) + 1].startswith(
        "[kmon] epoch 1/200 (fit 1; run epoch 201) · "
    )
    assert shown[-1].startswith("[kmon] epoch 200/200 (fit 1; run epoch 400) · ")
    assert lines[-1].startswith("[kmon] run ok in ") and "400 epochs" in lines[-1]


def test_eight_fast_fits_of_200_epochs_print_tens_of_lines_not_1600():
    lines = report(run_events(8, 200, 0.005))
    assert covered(lines) == list(range(1, 1601))
    assert len(epoch_lines(lines)) <= 8 * 5


def test_quiet_prints_the_summary_and_what_must_not_be_missed():
    events = run_events(2, 3, 1.0)
    fit_end = next(i for i, e in enumerate(events) if e.type == "fit_end")
    events[fit_end:fit_end] = [
        Log(text="the script's own line", t=T0 + 3),
        Notice(level="info", text="alarms: a note", t=T0 + 3),
        Notice(level="warning", text="careful", t=T0 + 3),
        Alarm(kind="nan_loss", severity="error", message="the training loss is nan", t=T0 + 3),
    ]
    lines = report(events, quiet=True, log_path="run.jsonl")
    assert lines[0] == "the script's own line"
    assert lines[1] == "[kmon] warning: careful"
    assert "nan_loss" in lines[2] and "the training loss is nan" in lines[2]
    assert len(lines) == 4
    assert lines[3].startswith("[kmon] run ok in ") and "2 fits, 6 epochs" in lines[3]
    assert lines[3].endswith("log: run.jsonl")
    loud = report(events, log_path="run.jsonl")
    assert len(epoch_lines(loud)) == 6 and "[kmon] info: alarms: a note" in loud


def test_drains_of_batches_print_and_fold_as_events_one_by_one():
    """The reporter folds each run of batch events at once: the lines and the state
    are those of applying and printing every event by itself, however the drains
    cut the run."""
    from test_fast_decode import _snapshot

    stream = EventStream(T0, tick=0.01).run_start("/x/train.py").fit_start(epochs=3, steps=40)
    for epoch in range(3):
        stream.epoch_start().batches([2.0 / (1 + epoch + step / 40) for step in range(40)], size=8)
        stream.add(Log, stream="stdout", text=f"script line {epoch}")
        stream.epoch_end({"loss": 1.0 / (1 + epoch)})
    events = stream.fit_end().run_end().events
    one_by_one_out = io.StringIO()
    one_by_one = HeadlessReporter(one_by_one_out, io.StringIO())
    for event in events:
        one_by_one.state.apply(event)
        one_by_one._print(event)
    one_by_one.finish()
    for chunk in (1, 7, 33, len(events)):
        out = io.StringIO()
        reporter = HeadlessReporter(out, io.StringIO())
        for start in range(0, len(events), chunk):
            reporter.handle(events[start : start + chunk])
        reporter.finish()
        assert out.getvalue() == one_by_one_out.getvalue()
        assert _snapshot(reporter.state) == _snapshot(one_by_one.state)


def test_a_grouped_line_keeps_the_validation_its_last_epoch_lacks():
    # validation_freq=3: fast epochs, validated at the 3rd and the 6th.
    stream = EventStream(T0).run_start("/x/train.py").fit_start(epochs=8, steps=2)
    for epoch in range(8):
        logs = {"loss": 1.0 / (1 + epoch)}
        if epoch % 3 == 2:
            logs["val_loss"] = 2.0 / (1 + epoch)
        stream.epoch_start().wait(FAST_EPOCH_SECONDS / 20)
        stream.epoch_end(logs)
    lines = epoch_lines(report(stream.fit_end().run_end().events))
    [grouped] = [line for line in lines if line.startswith("[kmon] epochs ")]
    # Its last epoch (7) had no validation: the group's latest (6) is shown, so named.
    assert grouped.startswith("[kmon] epochs 2–7/8"), lines
    assert grouped.endswith(" · loss=0.1429 · epoch 6: val_loss=0.3333"), lines
