"""RunState folds hand-built event streams."""

from __future__ import annotations

import io
import math

import pytest
from event_stream import EventStream

from kmon.engine.events import (
    Batch,
    EpochEnd,
    EpochStart,
    Event,
    FitEnd,
    FitStart,
    Log,
    Notice,
    RunEnd,
    RunStart,
)
from kmon.engine.headless.reporter import HeadlessReporter
from kmon.engine.view.state import RunState

STEP_SECONDS = 0.5


def _fit(stream: EventStream, epochs, steps, *, initial_epoch=0, val=True) -> list[Event]:
    """Add the run's next fit() with ``steps`` batches per epoch, one every
    STEP_SECONDS, then validation in 0.25 s; returns the fit's events."""
    first = len(stream)
    stream.fit_start(epochs=epochs, steps=steps, initial_epoch=initial_epoch)
    fit = stream.fit_number
    for epoch in range(initial_epoch, epochs):
        stream.epoch_start()
        for step in range(steps):
            loss = 1.0 / (fit * 10 + epoch + 1) + step * 0.01
            stream.wait(STEP_SECONDS).batch({"loss": loss})
        logs = {"loss": 1.0 / (fit * 10 + epoch + 1)}
        if val:
            stream.wait(0.25).val_end({"loss": 2.0})
            logs["val_loss"] = 2.0
        stream.epoch_end(logs)
    stream.fit_end()
    return stream.events[first:]


def test_two_fits_epochs_continue_across_fits(stream):
    state = RunState()
    stream.run_start("/home/me/train.py", argv=["/home/me/train.py", "-x"])
    state.apply(stream.events[-1])
    assert state.name == "train.py" and state.argv == ["/home/me/train.py", "-x"]
    assert state.phase == "starting" and not state.finished

    first = _fit(stream, epochs=2, steps=4)
    state.apply_all(first)
    assert [(r.fit, r.epoch, r.number) for r in state.history] == [(0, 0, 1), (0, 1, 2)]
    assert state.epochs_total == 2
    assert state.phase == "between fits"
    assert state.history[0].steps == 4
    # Epoch time: from epoch_start to epoch_end (4 batches and validation).
    assert state.history[0].seconds == pytest.approx(4 * STEP_SECONDS + 0.25)

    second = _fit(stream, epochs=3, steps=5)
    state.apply(second[0])  # fit_start
    assert state.epochs_total == 5
    assert state.steps == 5
    state.apply(second[1])  # epoch_start of fit 1, epoch 0
    assert state.epoch_number == 3
    state.apply_all(second[2:])
    assert [r.number for r in state.history] == [1, 2, 3, 4, 5]
    assert [(r.fit, r.epoch) for r in state.history[2:]] == [(1, 0), (1, 1), (1, 2)]
    assert state.epoch_number == 5
    assert state.epochs_total == 5
    assert state.total_steps == 2 * 4 + 3 * 5
    assert state.batches == 23
    assert [f.epoch_offset for f in state.fits] == [0, 2]
    assert state.epoch_series("val_loss") == [2.0] * 5
    assert state.last_epoch_logs == {"loss": 1.0 / 13, "val_loss": 2.0}
    assert state.last_val_logs == {"loss": 2.0}
    assert len(state.batch_loss) == 23


def test_epoch_numbers_with_initial_epoch(stream):
    state = RunState()
    state.apply_all(_fit(stream, epochs=2, steps=2))
    resumed = _fit(stream, epochs=5, steps=2, initial_epoch=3)
    state.apply_all(resumed[:2])
    assert state.epoch == 3
    assert state.epoch_number == 3
    assert state.epochs_total == 4
    state.apply_all(resumed[2:])
    assert [r.number for r in state.history] == [1, 2, 3, 4]


def test_steps_per_second_and_eta_from_event_times(stream):
    state = RunState()
    events = _fit(stream, epochs=3, steps=10)
    # fit_start, epoch_start, then 4 batches of epoch 0.
    state.apply_all(events[:6])
    assert state.step == 3
    assert state.epoch_progress() == (4, 10)
    assert state.steps_per_second == pytest.approx(1 / STEP_SECONDS)
    # The bar's epoch: 6 steps left at 2 steps/s; the fit: 2 more epochs of 10.
    assert state.epoch_eta_seconds() == pytest.approx(6 * STEP_SECONDS)
    assert state.fit_eta_seconds() == pytest.approx((6 + 20) * STEP_SECONDS)


def test_etas_count_validation_as_long_as_the_last_one_and_stop_with_the_fit(stream):
    state = RunState()
    events = _fit(stream, epochs=3, steps=10)
    # Epoch 0 (validated in 0.25 s), then 4 batches of epoch 1.
    end_of_epoch_0 = next(i for i, e in enumerate(events) if e.type == "epoch_end")
    state.apply_all(events[: end_of_epoch_0 + 6])
    assert (state.epoch, state.step) == (1, 3)
    rate = state.steps_per_second
    assert state.epoch_eta_seconds() == pytest.approx(6 / rate + 0.25)
    assert state.fit_eta_seconds() == pytest.approx(6 / rate + 0.25 + (10 / rate + 0.25))
    # Once this epoch validated, only the later epochs are left of the fit.
    validated = next(i for i, e in enumerate(events) if e.type == "val_end" and e.epoch == 1)
    state.apply_all(events[end_of_epoch_0 + 6 : validated + 1])
    rate = state.steps_per_second
    assert state.epoch_eta_seconds() == pytest.approx(0.0)
    assert state.fit_eta_seconds() == pytest.approx(10 / rate + 0.25)
    # Between fits there is nothing to wait for.
    state.apply_all(events[validated + 1 :])
    assert state.phase == "between fits"
    assert state.epoch_eta_seconds() is None and state.fit_eta_seconds() is None


def test_rate_unknown_with_one_batch_and_eta_unknown_without_steps(stream):
    state = RunState()
    events = _fit(stream, epochs=2, steps=3)
    state.apply_all(events[:3])
    assert state.steps_per_second is None
    assert state.fit_eta_seconds() is None

    unknown = RunState()
    unknown.apply(FitStart(steps=None, epochs=2, t=1.0))
    unknown.apply(EpochStart(t=1.0))
    for step in range(5):
        unknown.apply(Batch(step=step, t=2.0 + step))
    assert unknown.steps_per_second == pytest.approx(1.0)
    assert unknown.epoch_eta_seconds() is None and unknown.fit_eta_seconds() is None
    assert unknown.epoch_progress() == (5, None)


def test_coalesced_batches_still_count_steps():
    # A slow monitor may skip batch events: steps advance by the step numbers.
    state = RunState()
    state.apply(FitStart(steps=100, epochs=1, t=0.0))
    state.apply(EpochStart(t=0.0))
    for step in (0, 1, 7, 50, 99):
        state.apply(Batch(step=step, t=float(step)))
    assert state.total_steps == 100
    assert state.batches == 5
    state.apply(EpochEnd(t=100.0))
    assert state.history[-1].steps == 100


def test_log_lines_bounded_with_total():
    state = RunState(log_capacity=10)
    for i in range(25):
        state.apply(Log(stream="stderr" if i % 2 else "stdout", text=f"line {i}", t=float(i)))
    assert state.log_total == 25
    assert len(state.log_lines) == 10
    assert [line.text for line in state.log_lines] == [f"line {i}" for i in range(15, 25)]
    assert [line.number for line in state.log_lines] == list(range(16, 26))
    assert state.log_lines[-1].stream == "stdout"
    assert state.log_lines[-2].stream == "stderr"


def test_status_and_exit_code_after_run_end():
    state = RunState()
    state.apply(RunStart(scenario="mnist", variant="nan", t=10.0))
    assert state.name == "mnist (nan)"
    assert state.status is None and state.exit_code is None
    state.apply(Notice(level="warning", text="careful", t=11.0))
    assert [n.text for n in state.notices] == ["careful"]
    error = {"message": "ValueError: boom", "traceback": "Traceback ..."}
    state.apply(RunEnd(status="failed", exit_code=1, error=error, t=13.5))
    assert state.finished
    assert (state.status, state.exit_code, state.error) == ("failed", 1, error)
    assert state.phase == "finished"
    assert state.elapsed(now=1000.0) == pytest.approx(3.5)
    assert state.last_t == 13.5


def test_version_bumps_per_event_and_nan_loss_is_counted():
    state = RunState()
    state.apply(FitStart(t=0.0))
    state.apply(EpochStart(t=0.0))
    state.apply(Batch(step=0, logs={"loss": math.nan}, t=1.0))
    state.apply(Batch(step=1, logs={"loss": 0.5}, t=2.0))
    assert state.version == 4
    assert state.batch_loss.non_finite == 1
    assert state.batch_loss.highs() == [0.5]
    assert state.epoch_series("missing") == []


def test_nothing_known_before_any_fit():
    state = RunState()
    assert state.epoch_number is None
    assert state.epochs_total is None
    assert state.epoch_eta_seconds() is None and state.fit_eta_seconds() is None
    assert state.elapsed(5.0) == 0.0


def test_epoch_batch_loss_range_leaves_out_and_counts_non_finite_losses():
    from kmon.engine.view.run_records import BatchLossStats

    stats = BatchLossStats()
    for value in (0.5, float("nan"), 0.25, float("inf")):
        stats.add(value, 8, 1)
    assert (stats.low, stats.high, stats.non_finite) == (0.25, 0.5, 2)
    assert stats.describe_range() == "0.2500 … 0.5000, 2 non-finite"
    diverged = BatchLossStats()
    diverged.add(float("nan"), 8, 1)
    assert diverged.describe_range() == "1 non-finite"


@pytest.mark.parametrize("seed", range(30))
def test_an_epochs_batch_losses_in_runs_are_its_losses_one_by_one(seed):
    # A run of batches, some not recoverable (None), some not finite, a size or a
    # span missing: add_all gives what add gives batch by batch, to the last bit.
    import random

    from kmon.engine.view.run_records import BatchLossStats

    rng = random.Random(seed)
    by_runs, one_by_one = BatchLossStats(), BatchLossStats()
    for _ in range(6):
        count = rng.randrange(0, 40)
        values = [rng.choice([rng.random(), rng.random() * 1e-3, None]) for _ in range(count)]
        sizes = [rng.choice([32, 32, 7]) for _ in range(count)]
        spans = [1] * count
        if count and rng.random() < 0.2:
            values[rng.randrange(count)] = rng.choice([float("nan"), float("inf")])
        if count and rng.random() < 0.2:
            sizes[rng.randrange(count)] = None
        if count and rng.random() < 0.2:
            spans[rng.randrange(count)] = 2
        by_runs.add_all(values, sizes, spans)
        for value, size, span in zip(values, sizes, spans):
            one_by_one.add(value, size, span)
    assert repr(by_runs) == repr(one_by_one)


@pytest.mark.parametrize(("epochs_run", "stopped"), [(2, True), (3, False)])
def test_a_fit_stopped_before_its_last_epoch_says_so(epochs_run, stopped, stream):
    """``model.stop_training`` set during the last epoch ends the fit on time."""
    events = _fit(stream, epochs_run, 2)
    events[0] = FitStart(fit=0, epochs=3, steps=2, t=events[0].t)
    events[-1] = FitEnd(fit=0, stopped_early=True, t=events[-1].t)
    state = RunState()
    out = io.StringIO()
    reporter = HeadlessReporter(out, io.StringIO(), state=state)
    reporter.handle(events)
    assert state.fits[0].stopped_early is stopped
    line = "[kmon] fit 0 stopped early, after 2 of 3 epochs: model.stop_training was set"
    assert (line in out.getvalue()) is stopped, out.getvalue()


@pytest.mark.parametrize(
    ("callbacks", "named"),
    [
        (["TerminateOnNaN"], "by TerminateOnNaN, a stop request"),
        (["EarlyStopping", "Patience"], "by EarlyStopping, Patience, a stop request"),
        ([], "by a stop request"),  # none of its own: kmon's stop, or a callback's
        (None, "by EarlyStopping, a stop request"),  # an older log's fit_start
    ],
)
def test_the_stopped_early_line_names_the_fits_own_stoppers(callbacks, named, stream):
    events = _fit(stream, 2, 2)
    events[0] = FitStart(fit=0, epochs=3, steps=2, early_stopping=callbacks, t=events[0].t)
    events[-1] = FitEnd(fit=0, stopped_early=True, t=events[-1].t)
    out = io.StringIO()
    HeadlessReporter(out, io.StringIO()).handle(events)
    assert f"model.stop_training was set ({named} or another callback)" in out.getvalue(), (
        out.getvalue()
    )
