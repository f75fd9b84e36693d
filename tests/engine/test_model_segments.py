"""RunState cuts a run into one segment per model (fit_start.model_index, or the
model's name and outputs in older logs), and keeps the batch series of the current
model only; a model that logs no loss gets its own metric series."""

from __future__ import annotations

import pytest
from model_events import Clock, fit, gan_fit, run_end, run_start, three_models

from kmon.engine.events import FitStart
from kmon.engine.view.explain import explain_latest
from kmon.engine.view.state import RunState


def folded(events) -> RunState:
    state = RunState()
    state.apply_all(events)
    return state


def test_each_model_is_a_segment_and_a_loop_of_fits_is_one():
    state = folded(three_models())
    segments = [(s.number, s.model, s.first_fit, s.first_epoch, s.fits) for s in state.segments]
    assert segments == [(0, "digits", 0, 1, 1), (1, "router", 1, 3, 1), (2, "forecaster", 2, 5, 3)]
    assert [info.segment for info in state.fits] == [0, 1, 2, 2, 2]
    assert [record.segment for record in state.history] == [0, 0, 1, 1, 2, 2, 2]
    assert state.current_segment is state.segments[2]


def test_the_batch_series_hold_the_current_models_batches_only():
    state = folded(three_models())
    # The forecaster's 3 fits x 4 batches; not the digits' losses around 50.
    assert len(state.batch_values) == len(state.batch_loss) == len(state.batch_ema) == 12
    assert state.batch_values.high <= 0.5
    assert state.batch_loss.high <= 0.5
    # Its EMA starts afresh (bias-corrected from the model's first batch).
    assert state.batch_ema.buckets[0].low == state.batch_values.buckets[0].low


def test_a_model_trained_again_after_another_is_a_new_segment():
    clock = Clock()
    events = [run_start(clock)]
    events += fit(clock, 0, "a", 0) + fit(clock, 1, "b", 1) + fit(clock, 2, "a", 0)
    state = folded(events)
    assert [(s.model, s.first_fit) for s in state.segments] == [("a", 0), ("b", 1), ("a", 2)]


def test_logs_without_model_index_tell_models_by_name_and_outputs():
    clock = Clock()
    events = [run_start(clock)]
    events += fit(clock, 0, "sequential", None)
    events += fit(clock, 1, "sequential", None)  # the same model, trained on
    events += fit(clock, 2, "sequential", None, outputs=("a", "b"))
    events += fit(clock, 3, "sequential_1", None, outputs=("a", "b"))
    state = folded(events)
    assert [(s.first_fit, s.fits) for s in state.segments] == [(0, 2), (2, 1), (3, 1)]


def test_an_appended_run_numbers_its_models_anew():
    """A resumed job (--append) is a new process: its model 0 is the earlier run's
    model only when the name says so."""
    clock = Clock()
    events = [run_start(clock), *fit(clock, 0, "resnet", 0), run_end(clock, 1)]
    events += [run_start(clock), *fit(clock, 0, "resnet", 0), *fit(clock, 1, "head", 1)]
    events += [run_start(clock), *fit(clock, 0, "other", 0)]
    state = folded(events)
    assert [(s.model, s.fits) for s in state.segments] == [("resnet", 2), ("head", 1), ("other", 1)]


def test_a_model_without_loss_gets_a_series_per_metric():
    clock = Clock()
    state = folded([run_start(clock), *gan_fit(clock)])
    assert list(state.metric_series) == ["d_loss", "g_loss"]
    d_loss = state.metric_series["d_loss"]
    assert len(d_loss.running) == 8 and not len(d_loss.values)
    assert d_loss.running.high == pytest.approx(0.73)
    assert not len(state.batch_loss) and not len(state.batch_values)
    # Another model's start drops them.
    state.apply_all(fit(clock, 1, "next", 1))
    assert state.metric_series == {} and len(state.batch_loss) == 8


def test_the_explanation_speaks_of_the_current_model():
    clock = Clock()
    events = three_models(clock)
    state = folded(events[:-1])
    heading, text = explain_latest(state)
    assert heading == "Epoch 7 (forecaster)"
    assert text.startswith("History's loss")
    # A new model whose first epoch has not ended: not the previous model's numbers.
    state.apply(FitStart(fit=5, epochs=3, steps=4, model="classifier", model_index=3, t=clock()))
    heading, text = explain_latest(state)
    assert heading == "Model 4 (classifier)"
    assert text.startswith(
        "Fit 5 trains another model than the last finished epoch (epoch 7, forecaster) did."
    )
    assert "History" not in text
    # One model: as before, no model named.
    single = folded(fit(Clock(), 0, "only", 0))
    assert explain_latest(single)[0] == "Epoch 2"


def test_the_explanation_of_a_model_without_loss_names_its_metrics_and_why():
    clock = Clock()
    heading, text = explain_latest(folded([run_start(clock), *gan_fit(clock)]))
    assert heading == "Epoch 2"
    assert text == (
        "This model logs no loss. History's d_loss 0.7300 and g_loss 0.5700 are the values "
        "it logged at the epoch's last batch; per-batch values are not recoverable "
        "(custom metric with unknown weighting)."
    )
