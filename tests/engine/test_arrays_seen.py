"""What a fit's start works out from its NumPy arrays (the probe batch, the data
checks' statistics, the constant-predictor baselines) is kept for the next fit on
the same arrays, unchanged, and worked out anew when they changed in place."""

from __future__ import annotations

import gc

import keras
import numpy as np
import pytest

from kmon.engine import probes
from kmon.engine.alarms import baseline_watch, data_alarms, probe_callback
from kmon.engine.alarms.arrays_seen import ArraysSeen, fingerprint
from kmon.engine.probes import ProbeConfig
from kmon.engine.run.fit_hook import FitHook
from kmon.engine.stop import StopSignal

RNG = np.random.default_rng(0)


def test_the_same_arrays_unchanged_give_back_what_was_kept():
    seen = ArraysSeen()
    x, y = RNG.normal(size=(300, 4, 4, 3)), RNG.integers(0, 3, size=300)
    seen.put((x, {"out": y}, None), "kept", extra=("stats", True))
    assert seen.get((x, {"out": y}, None), ("stats", True)) == "kept"
    assert seen.get((x[:], {"out": y}, None), ("stats", True)) == "kept"  # a view of the same
    assert seen.get((x, {"out": y}, None), ("stats", False)) is None  # another question
    assert seen.get((x, y, None), ("stats", True)) is None  # another nest
    assert seen.get((x.copy(), {"out": y}, None), ("stats", True)) is None  # other memory


@pytest.mark.parametrize(
    "change",
    [
        lambda x: RNG.shuffle(x),
        lambda x: x.__imul__(255.0),
        lambda x: x.__setitem__(slice(None), RNG.normal(size=x.shape)),
    ],
    ids=["shuffled in place", "rescaled in place", "refilled in place"],
)
def test_arrays_changed_in_place_are_not_the_same(change):
    seen = ArraysSeen()
    x = RNG.normal(size=(5000, 8, 8, 3)).astype("float32")
    seen.put((x,), "kept")
    before = fingerprint(x)
    change(x)
    assert fingerprint(x) != before
    assert seen.get((x,)) is None


def test_an_array_freed_is_never_matched_by_one_at_its_address():
    seen = ArraysSeen()
    x = np.zeros((64, 3))
    key_id = id(x)
    seen.put((x,), "kept")
    del x
    gc.collect()
    for _ in range(50):  # however the allocator places it, it is another owner
        y = np.zeros((64, 3))
        if id(y) == key_id:
            break
    assert seen.get((y,)) is None


def test_anything_but_numpy_arrays_is_not_kept():
    seen = ArraysSeen()
    for data in (([1.0, 2.0],), (keras.ops.ones((3, 2)),), ({"a": object()},)):
        seen.put(data, "kept")
        assert seen.get(data) is None


def test_recall_makes_a_value_once_and_fingerprints_the_arrays_once_a_call(monkeypatch):
    from kmon.engine.alarms import arrays_seen

    prints = []
    real = arrays_seen.fingerprint
    monkeypatch.setattr(arrays_seen, "fingerprint", lambda a: prints.append(1) or real(a))
    seen, x, made = ArraysSeen(), RNG.normal(size=(100, 3)), []
    assert seen.recall((x,), "extra", lambda: made.append(1) or "value") == "value"
    assert seen.recall((x,), "extra", lambda: made.append(1) or "again") == "value"
    assert made == [1] and len(prints) == 2


def test_it_keeps_the_latest_few():
    seen = ArraysSeen(size=2)
    arrays = [np.full((10, 2), float(i)) for i in range(3)]
    for i, a in enumerate(arrays):
        seen.put((a,), i)
    assert seen.get((arrays[0],)) is None
    assert [seen.get((a,)) for a in arrays[1:]] == [1, 2]


def _counted(monkeypatch, module, name, calls):
    original = getattr(module, name)

    def counted(*args, **kwargs):
        calls[name] = calls.get(name, 0) + 1
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, counted)


def test_a_fit_on_the_same_arrays_reads_its_start_back_and_one_changed_in_place_anew(
    monkeypatch,
):
    """Raw inputs (mean ~3000) raise unscaled_data at fit 0; fit 1, on the same
    arrays, raises it again without the statistics being worked out; the arrays
    standardized in place, fit 2 works them out and clears it."""
    keras.utils.set_random_seed(0)
    x = RNG.normal(3000.0, 600.0, size=(256, 6)).astype("float32")
    y = (x[:, :1] > 3000.0).astype("float32")
    model = keras.Sequential(
        [keras.Input((6,)), keras.layers.Dense(4), keras.layers.Dense(1, activation="sigmoid")]
    )
    model.compile(optimizer="sgd", loss="binary_crossentropy")
    calls: dict[str, int] = {}
    _counted(monkeypatch, data_alarms, "array_stats", calls)
    _counted(monkeypatch, probe_callback, "probe_batches", calls)
    _counted(monkeypatch, baseline_watch, "head_baseline", calls)
    events = []
    hook = FitHook(events.append, StopSignal(), probes=ProbeConfig(every=50, gradient_every=50))
    hook.install()
    try:
        model.fit(x, y, epochs=1, batch_size=64, verbose=0)
        first = dict(calls)
        # The baselines of every training target, and of the probe batch's.
        assert first == {"array_stats": 2, "probe_batches": 1, "head_baseline": 2}
        model.fit(x, y, epochs=1, batch_size=64, verbose=0)
        assert calls == first  # nothing worked out again
        x -= x.mean(axis=0)
        x /= x.std(axis=0)
        model.fit(x, y, epochs=1, batch_size=64, verbose=0)
        # The data checks' sample (inputs and targets, kept together) and the probe
        # batch (a copy of rows) anew; the training targets' baseline (a separate
        # array, unchanged) read back.
        assert calls["array_stats"] == 4 and calls["probe_batches"] == 2
        assert calls["head_baseline"] in (2, 3)
    finally:
        hook.uninstall()
        probes.clear_probe_batch()
    unscaled = [(e.fit, e.state) for e in events if getattr(e, "kind", None) == "unscaled_data"]
    assert (0, "raised") in unscaled and (2, "cleared") in unscaled
    assert not hook.alarms.is_active("unscaled_data")
    baselines = [e for e in events if e.type == "baselines"]
    assert len(baselines) == 3 and len({e.total for e in baselines}) == 1
