"""RunState cuts a run into one segment per model (fit_start.model_index, or the
model's name and outputs in older logs), and keeps the batch series of the current
model only; a model that logs no loss gets its own metric series."""

from __future__ import annotations

import pytest
from model_events import fit, gan_fit, models_run, three_models

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
    stream = models_run()
    for model, index in (("a", 0), ("b", 1), ("a", 0)):
        fit(stream, model, model_index=index)
    state = folded(stream.events)
    assert [(s.model, s.first_fit) for s in state.segments] == [("a", 0), ("b", 1), ("a", 2)]


def test_logs_without_model_index_tell_models_by_name_and_outputs():
    stream = models_run()
    fit(stream, "sequential", model_index=None)
    fit(stream, "sequential", model_index=None)  # the same model, trained on
    fit(stream, "sequential", model_index=None, outputs=("a", "b"))
    fit(stream, "sequential_1", model_index=None, outputs=("a", "b"))
    state = folded(stream.events)
    assert [(s.first_fit, s.fits) for s in state.segments] == [(0, 2), (2, 1), (3, 1)]


def test_an_appended_run_numbers_its_models_anew():
    """A resumed job (--append) is a new process: its model 0 is the earlier run's
    model only when the name says so."""
    stream = models_run()
    fit(stream, "resnet", model_index=0)
    stream.run_end().run_start("/x/models.py", argv=["models.py"])
    fit(stream, "resnet", model_index=0)
    fit(stream, "head", model_index=1)
    stream.run_start("/x/models.py", argv=["models.py"])
    fit(stream, "other", model_index=0)
    state = folded(stream.events)
    assert [(s.model, s.fits) for s in state.segments] == [("resnet", 2), ("head", 1), ("other", 1)]


def test_a_model_without_loss_gets_a_series_per_metric():
    stream = models_run()
    gan_fit(stream)
    state = folded(stream.events)
    assert list(state.metric_series) == ["d_loss", "g_loss"]
    d_loss = state.metric_series["d_loss"]
    assert len(d_loss.running) == 8 and not len(d_loss.values)
    assert d_loss.running.high == pytest.approx(0.73)
    assert not len(state.batch_loss) and not len(state.batch_values)
    # Another model's start drops them.
    state.apply_all(fit(stream, "next", model_index=1))
    assert state.metric_series == {} and len(state.batch_loss) == 8


def test_the_explanation_speaks_of_the_current_model():
    stream = models_run()
    events = three_models(stream)
    state = folded(events[:-1])
    heading, text = explain_latest(state)
    assert heading == "Epoch 7 (forecaster)"
    assert text.startswith("History's loss")
    # A new model whose first epoch has not ended: not the previous model's numbers.
    stream.fit_start(epochs=3, steps=4, model="classifier", model_index=3)
    assert stream.events[-1].fit == 5
    state.apply(stream.events[-1])
    heading, text = explain_latest(state)
    assert heading == "Model 4 (classifier)"
    assert text.startswith(
        "Fit 5 trains another model than the last finished epoch (epoch 7, forecaster) did."
    )
    assert "History" not in text
    # One model: as before, no model named.
    single = folded(fit(models_run(), "only", model_index=0))
    assert explain_latest(single)[0] == "Epoch 2"


def test_the_explanation_of_a_model_without_loss_names_its_metrics_and_why():
    stream = models_run()
    gan_fit(stream)
    heading, text = explain_latest(folded(stream.events))
    assert heading == "Epoch 2"
    assert text == (
        "This model logs no loss. History's d_loss 0.7300 and g_loss 0.5700 are the values "
        "it logged at the epoch's last batch; per-batch values are not recoverable "
        "(custom metric with unknown weighting)."
    )
