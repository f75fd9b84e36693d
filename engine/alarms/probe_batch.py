"""The probe batch: the samples the probes run on, given by the script
(:func:`set_probe_batch`) or taken from what ``fit()`` trains on (:func:`probe_batches`),
and the array helpers that read them.

At fit start kmon keeps a probe batch (a few hundred training samples, spread over
the whole training set, or the first batches of a dataset) with its targets, and a
larger sample of the training data for the data checks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kmon.engine.alarms.probe_config import ProbeConfig
from kmon.engine.training.model_info import first_leaf

#: Dataset batches read at most to fill the probe batch.
MAX_DATASET_BATCHES = 8

_user_batch: ProbeBatch | None = None


def set_probe_batch(x: Any, y: Any = None) -> None:
    """Use ``(x, y)`` as the probe batch of every later ``fit()`` in this process.

    ``x`` and ``y`` are what ``model.predict_on_batch`` and the loss accept: arrays,
    or lists/dicts of arrays for several inputs or outputs. Keep it to a few hundred
    samples. Without ``y`` only the data checks on ``x`` run. Call
    :func:`clear_probe_batch` to go back to kmon's own choice.
    """
    global _user_batch
    _user_batch = ProbeBatch(to_numpy(x), None if y is None else to_numpy(y), "set_probe_batch()")


def clear_probe_batch() -> None:
    """Forget the batch given to :func:`set_probe_batch`."""
    global _user_batch
    _user_batch = None


def user_probe_batch() -> ProbeBatch | None:
    """The batch given to :func:`set_probe_batch`, or None."""
    return _user_batch


@dataclass
class ProbeBatch:
    """Inputs and targets to probe on; ``source`` says where they came from;
    ``sample_weight`` the weights ``fit()`` gives those rows (None: none given)."""

    x: Any
    y: Any
    source: str
    sample_weight: Any = None
    _fed: tuple | None = field(default=None, init=False, repr=False, compare=False)

    def fed(self) -> tuple[Any, Any]:
        """``x`` and ``y`` as TensorFlow tensors, made once, for the probes' model
        calls: a ``tf.function`` converts numpy arguments at every call, 0.1-0.15 ms
        of a 0.5 ms probe on a small MLP. As they are on the other backends, or where
        a leaf will not convert (the model's call then says what is wrong, as before).
        Made again if ``x`` or ``y`` was set since."""
        if self._fed is None or self._fed[0] is not self.x or self._fed[1] is not self.y:
            self._fed = (self.x, self.y, self.x, self.y)
            import keras

            if keras.backend.backend() == "tensorflow":
                import tensorflow as tf

                def convert(leaf):
                    return leaf if leaf is None else tf.convert_to_tensor(leaf)

                try:
                    self._fed = (
                        self.x,
                        self.y,
                        tf.nest.map_structure(convert, self.x),
                        tf.nest.map_structure(convert, self.y),
                    )
                except Exception:  # noqa: BLE001 - the batch as it is, as before
                    pass
        return self._fed[2:]

    @property
    def rows(self) -> int:
        first = first_leaf(self.x)
        return int(first.shape[0]) if first is not None and np.ndim(first) else 0


@dataclass
class FitData:
    """What ``fit()`` trains on: ``x``, ``y`` and, for arrays, the training samples
    (those before ``validation_split``) and the batch size."""

    x: Any
    y: Any = None
    samples: int | None = None
    batch_size: int | None = None
    sample_weight: Any = None
    class_weight: dict | None = None


def probe_batches(
    data: FitData, config: ProbeConfig
) -> tuple[ProbeBatch | None, ProbeBatch | None, str | None]:
    """``(probe batch, data-check sample, reason when there is none)``."""
    user = user_probe_batch()
    if data.samples is None and _is_array(first_leaf(data.x)):
        # Arrays with steps_per_epoch: fit() does not say how many samples it uses.
        data = FitData(
            data.x,
            data.y,
            int(first_leaf(data.x).shape[0]),
            sample_weight=data.sample_weight,
            class_weight=data.class_weight,
        )
    if data.samples is not None:
        probe = ProbeBatch(
            _take(data.x, _spread_indices(data.samples, config.size)), None, "training arrays"
        )
        rows = _spread_rows(data.samples, config.data_rows)
        sample = ProbeBatch(_take(data.x, rows), None, "training arrays")
        if data.y is not None:
            probe.y = _take(data.y, _spread_indices(data.samples, config.size))
            sample.y = _take(data.y, rows)
        if data.sample_weight is not None and _is_array(first_leaf(data.sample_weight)):
            probe.sample_weight = _take(
                data.sample_weight, _spread_indices(data.samples, config.size)
            )
            sample.sample_weight = _take(data.sample_weight, rows)
        return (user or probe), sample, None
    batch, reason = _from_dataset(data.x, config.size)
    if user is not None:
        return user, batch or user, None
    return batch, batch, reason


def training_targets(data: FitData | None, sample: ProbeBatch) -> ProbeBatch:
    """The targets and weights of every training row, where ``fit()`` trains on NumPy
    arrays (views, not copies), so that the constant predictor's loss is the one over
    the data, not over the data checks' ``sample``; else ``sample``."""
    if data is None or sample.source != "training arrays":
        return sample
    if not _all_numpy(data.y) or not (data.sample_weight is None or _all_numpy(data.sample_weight)):
        return sample
    # validation_split takes the last rows; with steps_per_epoch, fit() does not say.
    rows = slice(0, data.samples if data.samples is not None else _rows(data.x))
    return ProbeBatch(sample.x, _take(data.y, rows), sample.source, _take(data.sample_weight, rows))


def _all_numpy(data: Any) -> bool:
    if isinstance(data, dict):
        return bool(data) and all(_all_numpy(value) for value in data.values())
    if isinstance(data, (list, tuple)):
        return bool(data) and all(_all_numpy(value) for value in data)
    return isinstance(data, np.ndarray) and data.ndim > 0


def _spread_indices(samples: int, count: int) -> np.ndarray:
    """``count`` indices spread evenly over ``range(samples)``."""
    if samples <= count:
        return np.arange(samples)
    return np.linspace(0, samples - 1, count).round().astype(np.int64)


def _spread_rows(samples: int, count: int) -> slice:
    """``count`` rows spread evenly over ``range(samples)`` at one stride: a NumPy
    array gives them as a view. The data checks read a few thousand rows at every
    fit's start; copied out, those of 32x32 colour images were 50 MB and a third
    of a CNN's fit start."""
    if samples <= count:
        return slice(0, samples)
    step = samples // count
    return slice(0, step * count, step)


def _take(data: Any, index: np.ndarray | slice) -> Any:
    if data is None:
        return None
    if isinstance(data, dict):
        return {key: _take(value, index) for key, value in data.items()}
    if isinstance(data, (list, tuple)):
        return type(data)(_take(value, index) for value in data)
    if isinstance(data, np.ndarray):
        return data[index]
    if hasattr(data, "iloc"):  # pandas
        return np.asarray(data.iloc[index])
    import keras

    if isinstance(index, slice):
        index = np.arange(index.start, index.stop, index.step or 1)
    return keras.ops.convert_to_numpy(keras.ops.take(data, index, axis=0))


def _from_dataset(x: Any, size: int) -> tuple[ProbeBatch | None, str | None]:
    """The first batches of a ``tf.data.Dataset`` or ``PyDataset``."""
    kind = type(x).__name__
    batches = []
    rows = 0
    try:
        if _is_tf_dataset(x):
            iterator = iter(x.take(MAX_DATASET_BATCHES))
        elif hasattr(x, "__getitem__") and hasattr(x, "num_batches"):  # keras PyDataset
            count = min(x.num_batches or MAX_DATASET_BATCHES, MAX_DATASET_BATCHES)
            iterator = (x[i] for i in range(count))
        else:
            return None, (
                f"no probe batch: a {kind} cannot be read ahead without consuming it; "
                "pass one with kmon.engine.probes.set_probe_batch(x, y)"
            )
        for element in iterator:
            batches.append(element)
            rows += _rows(element[0] if isinstance(element, tuple) else element)
            if rows >= size:
                break
    except Exception as exc:  # noqa: BLE001 - any reader may fail; training must not
        return None, f"no probe batch: reading the {kind} failed ({type(exc).__name__}: {exc})"
    if not batches:
        return None, f"no probe batch: the {kind} gave no batch"
    first = batches[0]
    if not isinstance(first, tuple) or len(first) < 2:
        x_parts = [to_numpy(b[0] if isinstance(b, tuple) else b) for b in batches]
        return ProbeBatch(_concat(x_parts), None, f"first {len(batches)} {kind} batch(es)"), None
    x_parts = [to_numpy(b[0]) for b in batches]
    y_parts = [to_numpy(b[1]) for b in batches]
    batch = ProbeBatch(_concat(x_parts), _concat(y_parts), f"first {len(batches)} {kind} batch(es)")
    if len(first) >= 3 and first[2] is not None:  # (x, y, sample_weight)
        batch.sample_weight = _concat([to_numpy(b[2]) for b in batches])
    return batch, None


def _is_array(x: Any) -> bool:
    shape = getattr(x, "shape", None)
    return (
        bool(shape) and isinstance(shape[0], int) and hasattr(x, "dtype") and not _is_tf_dataset(x)
    )


def _is_tf_dataset(x: Any) -> bool:
    return any(cls.__name__ in ("DatasetV2", "Dataset") for cls in type(x).__mro__) and hasattr(
        x, "take"
    )


def _rows(data: Any) -> int:
    first = first_leaf(data)
    shape = getattr(first, "shape", None)
    return int(shape[0]) if shape else 0


def _concat(parts: list[Any]) -> Any:
    first = parts[0]
    if isinstance(first, dict):
        return {key: _concat([p[key] for p in parts]) for key in first}
    if isinstance(first, (list, tuple)):
        return type(first)(_concat([p[i] for p in parts]) for i in range(len(first)))
    return np.concatenate([np.asarray(p) for p in parts], axis=0) if len(parts) > 1 else first


def to_numpy(data: Any) -> Any:
    """``data`` as numpy arrays, in the same structure (lists, tuples, dicts)."""
    if data is None:
        return None
    if isinstance(data, dict):
        return {key: to_numpy(value) for key, value in data.items()}
    if isinstance(data, (list, tuple)):
        return type(data)(to_numpy(value) for value in data)
    if isinstance(data, np.ndarray):
        return data
    if hasattr(data, "numpy"):
        return np.asarray(data.numpy())
    return np.asarray(data)


def leaves(data: Any, prefix: str) -> list[tuple[str, Any]]:
    """``(name, array)`` for each input of ``data``: its dict keys, else ``prefix``
    (``prefix[i]`` for several)."""
    if data is None:
        return []
    if isinstance(data, dict):
        return [(str(key), value) for key, value in data.items()]
    if isinstance(data, (list, tuple)):
        if len(data) == 1:
            return [(prefix, data[0])]
        return [(f"{prefix}[{i}]", value) for i, value in enumerate(data)]
    return [(prefix, data)]
