"""Headless epoch lines on a script of many tiny epochs (tf.data, ``verbose=0``):
grouped while they come fast, and none at all with ``--quiet``; the event log has
every epoch either way."""

from __future__ import annotations

import re

from kmon.engine.headless.reporter import FAST_EPOCH_SECONDS, GROUP_SECONDS

SCRIPT = "tf_data_many_epochs.py"
SAYS = "trained 60 epochs, final loss "


def covered(lines: list[str]) -> list[int]:
    numbers = []
    for line in lines:
        found = re.match(r"\[kmon\] epochs? (\d+)(?:–(\d+))?/60 ", line)
        if found:
            numbers += range(int(found[1]), int(found[2] or found[1]) + 1)
    return numbers


def test_fast_epochs_get_grouped_lines_and_the_last_one_its_own(real_run):
    run = real_run(SCRIPT)
    assert run.returncode == 0, run.stderr
    assert len(run.of_type("epoch_end")) == 60
    lines = run.kmon_lines
    assert covered(lines) == list(range(1, 61))  # each epoch once, in order
    epoch_lines = [line for line in lines if re.match(r"\[kmon\] epochs? ", line)]
    # How fast the epochs came on this (loaded) machine decides the lines: the first
    # and the last, one per slow epoch and one before it, one per half second.
    ends = [event.t for event in run.of_type("epoch_end")]
    gaps = [later - earlier for earlier, later in zip(ends, ends[1:])]
    slow = sum(gap >= FAST_EPOCH_SECONDS for gap in gaps)
    assert len(epoch_lines) <= 3 + 2 * slow + (ends[-1] - ends[0]) / GROUP_SECONDS
    if sum(gap < FAST_EPOCH_SECONDS for gap in gaps) > 40:
        grouped = r"^\[kmon\] epochs \d+–\d+/60 \(fit 0, \d+ epochs in \d\.\d s\) · loss="
        assert any(re.match(grouped, line) for line in epoch_lines), epoch_lines
    final = run.state.history[-1].logs["loss"]
    assert epoch_lines[-1].startswith("[kmon] epoch 60/60 (fit 0) · ")
    assert f"loss={final:.4f}" in epoch_lines[-1]
    assert SAYS in run.stdout


def test_quiet_prints_only_the_summary_and_the_scripts_output(real_run):
    run = real_run(SCRIPT, "--quiet")
    assert run.returncode == 0, run.stderr
    assert len(run.of_type("epoch_end")) == 60  # the log is complete regardless
    (summary,) = run.kmon_lines
    assert summary.startswith("[kmon] run ok in ") and "1 fit, 60 epochs, 120 steps" in summary
    assert SAYS in run.stdout
