"""The diagnosis zoo's runs that once failed, run here as the zoo runs them (its own
functions, kmon's default probes): each raises its alarm by the end of its second
epoch, and its healthy counterpart stays silent.

- ``sequence_raw_targets``: a sequence LSTM on targets in raw units never raised
  ``prediction_variance`` (its spread rose slowly from 2e-4 of the targets', which
  read as learning);
- ``unstable_lr`` (Adam at 0.1): ``unstable_training`` came in epoch 4, once the
  epoch loss rose; the running median of its batch losses climbs back in epoch 1;
- ``majority_collapse``: ``class_collapse`` came in epoch 3 under load, and
  ``deep_sigmoid``: ``vanishing_gradients`` in epoch 3: too few probes in the first
  epochs, which the early schedule (by steps, not seconds) now gives.

Every run is cut after its second epoch (what is asserted), to keep the tests short. ``benchmarks/diagnosis.py`` scores the same runs in full.
"""

from __future__ import annotations

import functools
import inspect
import sys

import keras
import pytest
from locations import BENCHMARKS

from kmon.engine.run.fit_hook import FitHook
from kmon.engine.stop import StopSignal

sys.path.insert(0, str(BENCHMARKS))

import _zoo_broken as broken  # noqa: E402
import _zoo_broken_learning as learning  # noqa: E402
import _zoo_healthy as healthy  # noqa: E402
from _zoo_cases import SEED  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy")


def run(case, epochs: int, monkeypatch) -> list:
    """Run a zoo case under kmon's fit hook (default probes), its fits cut to
    ``epochs``; returns the events."""
    real_fit = keras.Model.fit
    signature = inspect.signature(real_fit)

    @functools.wraps(real_fit)
    def fit(*args, **kwargs):
        bound = signature.bind(*args, **kwargs)
        bound.arguments["epochs"] = min(bound.arguments.get("epochs", 1), epochs)
        return real_fit(*bound.args, **bound.kwargs)

    monkeypatch.setattr(keras.Model, "fit", fit)
    keras.backend.clear_session()
    keras.utils.set_random_seed(SEED)
    events: list = []
    hook = FitHook(events.append, StopSignal())
    hook.install()
    try:
        case.train()
    finally:
        hook.uninstall()
    return events


def raised(events) -> dict[str, int]:
    """The warnings and errors raised, by kind: the 0-based epoch of the first."""
    found: dict[str, int] = {}
    for event in events:
        if event.type == "alarm" and event.state == "raised" and event.severity != "info":
            found.setdefault(event.kind, event.epoch if event.epoch is not None else -1)
    return found


@pytest.mark.parametrize(
    ("case", "kind"),
    [
        (broken.sequence_raw_targets, "prediction_variance"),
        (broken.unstable_lr, "unstable_training"),
        (learning.majority_collapse, "class_collapse"),
        (learning.deep_sigmoid, "vanishing_gradients"),
    ],
    ids=lambda value: getattr(value, "name", value),
)
def test_a_once_missed_alarm_comes_by_the_second_epoch(case, kind, monkeypatch):
    found = raised(run(case, 2, monkeypatch))
    assert kind in found, f"{case.name}: raised {found}"
    assert found[kind] <= 1  # 0-based: the first or second epoch
    assert set(found) <= case.expect | case.allow, found


@pytest.mark.parametrize(
    "case",
    [
        broken.sequence_output_fixed,
        broken.unstable_lr_fixed,
        healthy.imbalanced_class_weights,
        learning.deep_relu,
    ],
    ids=lambda value: value.name,
)
def test_its_healthy_counterpart_stays_silent(case, monkeypatch):
    assert raised(run(case, 2, monkeypatch)) == {}
