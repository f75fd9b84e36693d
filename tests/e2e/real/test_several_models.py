"""Corpus: a script that trains several models one after another, and a GAN that
logs no ``loss``: alarms and charts belong to the model that produced them."""

from __future__ import annotations

import pytest

from kmon.engine.alarms.kinds import ENDED

SEVERAL = "several_models.py"
GAN = "gan_train_step.py"


def test_every_fit_says_which_model_it_trains(real_run):
    run = real_run(SEVERAL)
    assert run.returncode == 0, run.stderr
    starts = run.of_type("fit_start")
    assert [(s.model, s.model_index) for s in starts] == [
        ("digits", 0),
        ("ticket_router", 1),
        ("forecaster", 2),
        ("forecaster", 2),
        ("forecaster", 2),
    ]
    segments = [(s.model, s.first_fit, s.first_epoch, s.fits) for s in run.state.segments]
    assert segments == [("digits", 0, 1, 1), ("ticket_router", 1, 3, 1), ("forecaster", 2, 5, 3)]
    assert [record.segment for record in run.state.history] == [0, 0, 1, 1, 2, 2, 2]
    # The batch panels hold the forecaster's 3 fits of 8 steps, not the digits'
    # losses in the tens.
    assert len(run.state.batch_values) == 24
    assert run.state.batch_values.high < 5


def test_an_alarm_ends_with_its_model(real_run):
    run = real_run(SEVERAL)
    alarms = [(a.kind, a.state, a.fit) for a in run.of_type("alarm")]
    # Raw pixel values: raised on the classifier's fit, ended (not cleared: the
    # classifier's data was never fixed) when the next model starts.
    assert alarms == [("unscaled_data", "raised", 0), ("unscaled_data", ENDED, 0)]
    ended = run.of_type("alarm")[1]
    assert ended.message == "fit 1 trains another model (ticket_router)"
    assert ended.evidence == {"next_fit": 1, "next_model": "ticket_router"}
    # In the log between the classifier's last event and the router's first.
    # Without the sampler thread's `system` events, which land wherever they fall.
    types = [
        (e.type, getattr(e, "fit", None)) for e in run.events if e.type not in ("log", "system")
    ]
    at = types.index(("alarm", 0), types.index(("alarm", 0)) + 1)
    assert types[at - 1] == ("fit_end", 0) and types[at + 1] == ("fit_start", 1)
    assert run.state.alarms == {}
    assert (
        "[kmon] alarm ended: unscaled_data (with fit 0): fit 1 trains another model (ticket_router)"
    ) in run.kmon_lines
    summary = run.kmon_lines[-1]
    assert "ended with their model: unscaled_data (fit 0)" in summary
    assert "active" not in summary


def test_a_gan_logs_its_own_losses_and_kmon_keeps_them(real_run):
    run = real_run(GAN)
    assert run.returncode == 0, run.stderr
    [kinds] = run.of_type("value_kinds")
    # Its own Mean trackers count once per step (read from their counts): each
    # step's own loss is recovered though the dataset's batch sizes are unknown.
    assert kinds.kinds == {"d_loss": "step_mean", "g_loss": "step_mean"}
    state = run.state
    assert list(state.metric_series) == ["d_loss", "g_loss"]
    batches = run.of_type("batch")
    for key, series in state.metric_series.items():
        # 3 epochs of 8 batches: Keras's running means, as logged.
        means = [b.logs[key] for b in batches]
        assert len(series.running) == len(means) == 24
        assert (series.running.low, series.running.high) == (min(means), max(means))
        # Each epoch's recovered values average back to its last running mean.
        assert len(series.values) == 24
        for epoch in range(3):
            own = [b.values[key] for b in batches if b.epoch == epoch]
            assert sum(own) / len(own) == pytest.approx(
                [b.logs[key] for b in batches if b.epoch == epoch][-1], rel=1e-5
            )
            assert all(value >= 0 for value in own)  # cross-entropies
    assert all(b.size is None for b in batches)  # a dataset's sizes are not guessed
    assert not len(state.batch_loss)
    assert [sorted(record.logs) for record in state.history] == [["d_loss", "g_loss"]] * 3
