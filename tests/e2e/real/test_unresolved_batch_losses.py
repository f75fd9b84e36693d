"""A classifier that becomes certain, under the real ``kmon train --headless``: once
its batch losses fall to 1e-6 and below, Keras's float32 running means no longer
resolve some of them. Those are not recoverable, the rest are; the epoch line and
the explanation say how many were not, instead of calling them all unrecoverable
(found trying a script as a user would, 2026-12-04)."""

from __future__ import annotations

import re

from batch_identity import batches_by_epoch

from kmon.engine.view.explain import explain_epoch

SCRIPT = "certain_classifier.py"


def test_an_epoch_with_some_unrecoverable_losses_says_how_many(real_run):
    run = real_run.clean(SCRIPT)
    epochs = [batches for _, batches in sorted(batches_by_epoch(run.events, 0).items())]
    missing = [sum(b.values["loss"] is None for b in batches) for batches in epochs]
    assert len(epochs) == 3 and all(len(batches) == 500 for batches in epochs)
    partial = [index for index, count in enumerate(missing) if 0 < count < 500]
    assert partial, f"no epoch with some losses not recoverable: {missing}"
    lines = [line for line in run.kmon_lines if re.match(r"\[kmon\] epoch \d/3 ", line)]
    (info,) = run.state.fits
    for index, (line, record) in enumerate(zip(lines, run.state.history, strict=True)):
        text = explain_epoch(record, info)
        assert (record.unrecovered_losses, record.recovered_losses) == (
            missing[index],
            500 - missing[index],
        )
        if missing[index]:
            assert line.endswith(f" · batch losses: {missing[index]} not recoverable"), line
            assert record.batch_losses is None
            assert (
                f"kmon recovered {500 - missing[index]} of this epoch's batch losses, "
                f"but {missing[index]} {'was' if missing[index] == 1 else 'were'} not "
                "recoverable from the running means, so kmon gives no mean of its own."
            ) in text
            assert "were not recoverable for this input" not in text
        else:
            assert re.search(r" · batch losses \S+ … \S+$", line), line
            assert "weighted by batch size" in text
