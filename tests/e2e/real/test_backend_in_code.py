"""A script that sets KERAS_BACKEND in code before importing Keras trains on that
backend under the real ``kmon train --headless``, as under ``python``, and kmon
still watches its fit (its hook installed at the script's own ``import keras``)."""

from __future__ import annotations

import pytest

pytest.importorskip("jax", reason="the script picks JAX")


def test_the_backend_the_script_sets_is_the_one_it_trains_on(real_run):
    run = real_run.clean("backend_in_code.py")
    assert "backend: jax" in run.stdout
    assert "oneDNN" not in run.stderr  # TensorFlow was never imported
    (fit,) = [e for e in run.events if e.type == "fit_start"]
    assert fit.epochs == 3
    epochs = [e for e in run.events if e.type == "epoch_end"]
    assert [e.epoch for e in epochs] == [0, 1, 2]
    assert all("val_loss" in e.logs for e in epochs)
    assert sum(e.type == "batch" for e in run.events) == 3 * 12
