"""A two-head script whose EarlyStopping watches the default val_loss, under the
real ``kmon train --headless``: one head overfits while the summed val_loss keeps
falling, so the fit runs to its last epoch; the alarm names the head, and the fix
kmon gives is an EarlyStopping on that head's own loss (found in a user-style
trial, where the advice was to add the EarlyStopping the script already had)."""

from __future__ import annotations

from kmon.engine.alarms.advice import advice_for


def test_the_overfitting_head_gets_an_early_stopping_on_its_own_loss(real_run):
    run = real_run.clean("house_two_heads.py")
    assert "trained 15 epochs" in run.stdout  # EarlyStopping on val_loss never stopped
    val_loss = [e.logs["val_loss"] for e in run.events if e.type == "epoch_end"]
    assert len(val_loss) == 15 and val_loss[-1] < val_loss[0]
    raised = [
        e for e in run.events if e.type == "alarm" and e.kind == "overfitting" and e.state == "raised"
    ]
    assert [alarm.subject for alarm in raised] == ["sells_fast"]
    fix = advice_for("overfitting", raised[0].evidence).fixes[0]
    assert "EarlyStopping(monitor='val_sells_fast_loss', mode='min', patience=2" in fix
