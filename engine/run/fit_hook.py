"""Injects kmon's callback into every ``keras.Model.fit`` call of a run.

The user's script stays unmodified: for the duration of the run, ``keras.Model.fit``
is replaced by a thin wrapper that adds the callback
(:class:`~kmon.engine.training.callback.KmonCallback`) and silences Keras's own
progress bar when the monitor shows progress instead; then it is restored.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import os
import sys
import weakref
from collections.abc import Callable

import keras

from kmon.engine.alarms.arrays_seen import ArraysSeen
from kmon.engine.alarms.book import AlarmBook
from kmon.engine.alarms.probe_batch import FitData
from kmon.engine.alarms.probe_callback import ProbeCallback
from kmon.engine.alarms.probe_config import ProbeConfig, probe_config
from kmon.engine.errors import RefusedRun
from kmon.engine.events import Event, Notice, Probes
from kmon.engine.run.probed_monitor import ProbedMonitor, can_carry
from kmon.engine.stop import StopSignal
from kmon.engine.training.batch_threads import batch_ends_on_training_thread
from kmon.engine.training.callback import KmonCallback
from kmon.engine.training.model_info import first_leaf

DEFAULT_BATCH_SIZE = 32  # what Keras uses for array inputs when batch_size is None

#: Why a legacy tf.keras fit() is refused (one line: it ends the run with exit code 2).
LEGACY_KERAS_MESSAGE = (
    "kmon: this script trains with legacy tf.keras (Keras 2, from TF_USE_LEGACY_KERAS=1 "
    "and the tf-keras package), which kmon does not monitor; unset TF_USE_LEGACY_KERAS "
    "(tf.keras is then Keras 3) or use `import keras`"
)


#: ``FitHook._plan_fit``'s answers besides a plan: run the fit unchanged; skip it.
_AS_IS = object()
_SKIPPED = object()


class FitHook:
    """Patches ``keras.Model.fit`` while installed.

    Args:
        emit: receives every event.
        stop: shared stop flag; once raised, later ``fit()`` calls return at once.
        quiet_keras: force ``verbose=0`` so Keras's progress bar does not print.
        evaluate_training_data: evaluate the model on its training arrays at every
            epoch end (see :class:`~kmon.engine.events.TrainEval`).
        probes: how :class:`~kmon.engine.alarms.probe_callback.ProbeCallback` watches each
            fit for training failures (None: what
            :func:`~kmon.engine.probes.set_probe_config` set, or the defaults).
        stop_on_nan: stop the run when the training loss becomes NaN or Inf.
        only_with: monitor only the ``fit()`` calls whose callbacks include an
            instance of this class (an in-script ``Monitor``); None: every call.
        batch_tapes: on TensorFlow and torch, let the sinks recover the batch ends (see
            :mod:`~kmon.engine.training.batch_tape`); ``emit`` must then reach only
            sinks that expand tapes (the event-log writer, the monitor's channel).
    """

    def __init__(
        self,
        emit: Callable[[Event], None],
        stop: StopSignal,
        *,
        quiet_keras: bool = True,
        evaluate_training_data: bool = False,
        probes: ProbeConfig | None = None,
        stop_on_nan: bool = False,
        only_with: type | None = None,
        batch_tapes: bool = False,
    ) -> None:
        self._emit = emit
        self._batch_tapes = batch_tapes
        self._only_with = only_with
        self._probes = probes
        self._stop_on_nan = stop_on_nan
        self._batches_out: Callable[[], None] | None = None
        """The current fit's :meth:`KmonCallback.flush_batches`."""
        self.alarms = AlarmBook(self._in_order)
        self._arrays_seen = ArraysSeen()
        """What fits' starts took from their NumPy arrays, for a fit on the same."""
        """The run's alarms, shared by every fit."""
        self._evaluate_training_data = evaluate_training_data
        self._stop = stop
        self._quiet_keras = quiet_keras
        self._saved: object = None
        self._had_own_fit = False
        self._legacy: tuple | None = None
        self._installed = False
        self.fits = 0
        """Number of ``fit()`` calls seen so far."""
        self.in_fit = False
        """A ``fit()`` call is running: a stop then ends it after the current batch."""
        self._models: list[weakref.ref] = []
        """The models fitted so far, in order: weak, so that a script that builds a
        new model per fit frees the old ones as it would without kmon."""
        self._last_model: int | None = None
        """``model_index`` of the previous fit."""

    def install(self) -> None:
        model_cls = keras.Model
        self._had_own_fit = "fit" in model_cls.__dict__
        self._saved = model_cls.__dict__.get("fit")
        original = model_cls.fit
        signature = inspect.signature(original)
        hook = self

        def fit(model, *args, **kwargs):
            return hook.monitor_fit(original, signature, model, args, kwargs)

        fit.__doc__ = original.__doc__
        fit.__wrapped__ = original
        fit.kmon_hook = self  # an in-script Monitor under `kmon train` stands aside
        model_cls.fit = fit
        self._legacy = _refuse_legacy_keras()
        self._installed = True

    def uninstall(self) -> None:
        if not self._installed:
            return
        if self._had_own_fit:
            keras.Model.fit = self._saved
        else:
            del keras.Model.fit
        if self._legacy is not None:
            legacy_cls, legacy_fit = self._legacy
            legacy_cls.fit = legacy_fit
            self._legacy = None
        self._installed = False

    def _in_order(self, event: Event) -> None:
        """Emit an alarm or notice of the probes after the batch events the fit's
        callback still holds on its tape (see :class:`KmonCallback`)."""
        flush = self._batches_out
        if flush is not None:
            flush()
        self._emit(event)

    def monitor_fit(self, original, signature, model, args, kwargs):
        """Run ``original`` (``keras.Model.fit``, whose ``signature`` it is) as
        ``model.fit(*args, **kwargs)`` with kmon's callbacks added."""
        # This frame stays under every step of the fit, and TensorFlow walks the
        # whole stack at each eager op (two a step: the iterator's next batch),
        # reading each frame's line from its code's start. So the work before and
        # after the fit is done elsewhere, and this frame calls Keras early.
        plan = self._plan_fit(signature, model, args, kwargs)
        if plan is _AS_IS:
            return original(model, *args, **kwargs)
        if plan is _SKIPPED:
            return getattr(model, "history", None)
        bound, callback = plan
        self.in_fit = True
        try:
            return original(*bound.args, **bound.kwargs)
        except BaseException as error:
            _report_cut_short(callback, error)
            raise
        finally:
            self.in_fit = False

    def _plan_fit(self, signature, model, args, kwargs) -> object:
        """What ``model.fit(*args, **kwargs)`` becomes: the bound arguments with
        kmon's callbacks added and kmon's callback; or ``_AS_IS``
        (not a fit this hook monitors), or ``_SKIPPED`` (a stop was requested)."""
        bound = signature.bind(model, *args, **kwargs)
        arguments = bound.arguments
        if self._only_with is not None and not _has_callback(
            arguments.get("callbacks"), self._only_with
        ):
            return _AS_IS
        if self._stop.requested:
            self._emit(Notice(level="warning", text="fit() skipped: stop was requested"))
            return _SKIPPED
        samples, batch_size = _array_geometry(arguments)
        model_index = self._model_index(model)
        if self._last_model is not None and model_index != self._last_model:
            # Before this fit's events: its data checks may raise the same kinds anew.
            self.alarms.end_all(
                fit=self.fits - 1, next_fit=self.fits, next_model=getattr(model, "name", None)
            )
        self._last_model = model_index
        config = self._probes or probe_config()
        if self._stop_on_nan:
            config = dataclasses.replace(config, stop_on_nan=True)
        # TensorFlow calls batch ends on the training thread, in order; torch from its
        # thread pool, whose threads ship tapes in turn (BatchTapeDecoder.ship_from).
        in_order = batch_ends_on_training_thread()
        tapes = self._batch_tapes and (in_order or keras.backend.backend() == "torch")
        carried = config.enabled and can_carry(
            tapes and in_order, config.stop_on_nan, ends_on_training_thread=in_order
        )
        callback = (ProbedMonitor if carried else KmonCallback)(
            self._emit,
            self.fits,
            stop=self._stop,
            samples=samples,
            batch_size=batch_size,
            initial_epoch=int(arguments.get("initial_epoch") or 0),
            weighting=_weighting(arguments),
            training_data=_training_arrays(arguments, samples)
            if self._evaluate_training_data
            else None,
            model_index=model_index,
            early_stopping=_early_stopping(arguments.get("callbacks")),
            batch_tapes=tapes,
        )
        added: list = [callback]
        self._batches_out = callback.flush_batches
        if config.enabled:
            data = FitData(
                arguments.get("x"),
                arguments.get("y"),
                samples,
                batch_size,
                sample_weight=arguments.get("sample_weight"),
                # A dict only: Keras 3 rejects anything else (an array) with its own
                # error, which must reach the user unchanged (an array is not truthy).
                class_weight=_class_weights(arguments.get("class_weight")),
            )
            probes = ProbeCallback(
                self._in_order,
                self.fits,
                self.alarms,
                data,
                config=config,
                stop=self._stop,
                head_map=callback.head_map,
                arrays_seen=self._arrays_seen,
            )
            if carried:  # Keras calls kmon once a hook (probed_monitor)
                callback.carry(probes, tape_losses=in_order)
            else:
                added.append(probes)
        else:
            self._emit(Probes(fit=self.fits))  # nothing is checked
        self.fits += 1
        arguments["callbacks"] = _with_callback(
            arguments.get("callbacks"), added, model, leave_out=self._only_with
        )
        if self._quiet_keras:
            arguments["verbose"] = 0
        return bound, callback

    def _model_index(self, model) -> int:
        """The model's number in the run; a model freed since is never matched,
        even when a new one got its address."""
        for index, known in enumerate(self._models):
            if known() is model:
                return index
        self._models.append(weakref.ref(model))
        return len(self._models) - 1


def legacy_keras_requested(environ=None) -> bool:
    """``tf.keras`` is legacy Keras 2 (``tf_keras``): TensorFlow's own test of the
    variable."""
    return (os.environ if environ is None else environ).get("TF_USE_LEGACY_KERAS") in (
        "true",
        "True",
        "1",
    )


def _refuse_legacy_keras() -> tuple | None:
    """Make legacy ``tf_keras.Model.fit`` raise :class:`RefusedRun` while installed.

    Keras 2's callbacks, logs and compiled losses differ from Keras 3's: rather than
    report values kmon cannot vouch for, it refuses. Only when the script can reach
    legacy Keras (the variable is set, or ``tf_keras`` is imported already), so other
    runs never pay for importing it. Returns ``(class, its own fit)`` to restore.
    """
    if not legacy_keras_requested() and "tf_keras" not in sys.modules:
        return None
    try:
        import tf_keras
    except ImportError:
        return None  # tf.keras then fails to load by itself
    model_cls = tf_keras.Model
    own_fit = model_cls.fit

    def fit(model, *args, **kwargs):
        raise RefusedRun(LEGACY_KERAS_MESSAGE)

    fit.__wrapped__ = own_fit
    model_cls.fit = fit
    return model_cls, own_fit


def _report_cut_short(callback, error: BaseException) -> None:
    """A fit that ends in an exception gets no ``on_train_end``: the batch ends still
    on the tape go out now, before the exception reaches the script. If a callback
    of the script's raised in ``on_epoch_end`` (a preemption test, a failed save)
    before kmon's, which Keras calls last, that epoch did end, and its logs are in
    the traceback's ``CallbackList.on_epoch_end`` frame: kmon reports it from
    there. Read only on the way out, this costs the fit's steps nothing."""
    try:
        callback.flush_batches()
        ended = _epoch_end_in(error)
        if ended is not None and ended[0] != callback.last_epoch_end:
            callback.on_epoch_end(*ended)
    except Exception:  # noqa: BLE001 - the script's exception goes on, not ours
        pass


def _epoch_end_in(error: BaseException) -> tuple[int, dict] | None:
    """The epoch and logs of the outermost ``CallbackList.on_epoch_end`` that
    ``error`` passed through (this fit's, where a callback's own fit raised too)."""
    code = keras.callbacks.CallbackList.on_epoch_end.__code__
    trace = error.__traceback__
    while trace is not None:
        frame = trace.tb_frame
        if frame.f_code is code:
            epoch, logs = frame.f_locals.get("epoch"), frame.f_locals.get("logs")
            return (epoch, dict(logs or {})) if isinstance(epoch, int) else None
        trace = trace.tb_next
    return None


def _with_callback(callbacks, added, model, *, leave_out: type | None = None):
    """``fit()``'s ``callbacks`` with kmon's ``added``; without the instances of
    ``leave_out`` (the in-script ``Monitor``, which does nothing in a fit kmon
    monitors: each callback costs a step two calls of Keras's, or four where it
    leaves the batch hooks to the base class) unless they came in Keras's own list."""
    if callbacks is None:
        return list(added)
    if isinstance(callbacks, keras.callbacks.CallbackList):
        # Keras uses a ready-made list as is, without configuring its members: add
        # ours in place and configure it here. A list reused across fit() calls
        # still holds the callbacks of the previous fit: replace them.
        callbacks.callbacks[:] = [
            cb for cb in callbacks.callbacks if not isinstance(cb, (KmonCallback, ProbeCallback))
        ]
        for callback in added:
            callback.set_params(callbacks.params or {})
            callback.set_model(model)
            callbacks.callbacks.append(callback)
        return callbacks
    if not isinstance(callbacks, (list, tuple)):
        callbacks = [callbacks]  # a single callback, which Keras accepts as well
    if leave_out is not None:
        callbacks = [callback for callback in callbacks if not isinstance(callback, leave_out)]
    return [*callbacks, *added]


def _has_callback(callbacks, kind: type) -> bool:
    """Whether ``fit()``'s ``callbacks`` argument holds an instance of ``kind``."""
    if isinstance(callbacks, keras.callbacks.CallbackList):
        callbacks = callbacks.callbacks
    elif not isinstance(callbacks, (list, tuple)):
        callbacks = [] if callbacks is None else [callbacks]
    return any(isinstance(callback, kind) for callback in callbacks)


def _early_stopping(callbacks) -> list[str]:
    """Class names of the callbacks that can end the fit before its last epoch."""
    if isinstance(callbacks, keras.callbacks.CallbackList):
        callbacks = callbacks.callbacks
    elif not isinstance(callbacks, (list, tuple)):
        callbacks = [] if callbacks is None else [callbacks]
    stoppers = (keras.callbacks.EarlyStopping, keras.callbacks.TerminateOnNaN)
    return [type(cb).__name__ for cb in callbacks if isinstance(cb, stoppers)]


def _array_geometry(arguments) -> tuple[int | None, int | None]:
    """Training samples per epoch and batch size, when ``x`` is made of arrays.

    Datasets, generators and ``PyDataset`` give ``(None, None)``: their batch sizes
    are theirs to decide.
    """
    if arguments.get("steps_per_epoch") is not None:
        return None, None
    x = arguments.get("x")
    first = first_leaf(x)
    shape = getattr(first, "shape", None)
    if not shape or shape[0] is None or isinstance(shape[0], str):
        return None, None
    try:
        samples = int(shape[0])
    except TypeError:
        return None, None
    split = arguments.get("validation_split") or 0.0
    if split and arguments.get("validation_data") is None:
        samples = int(math.floor(samples * (1.0 - split)))
    batch_size = arguments.get("batch_size") or DEFAULT_BATCH_SIZE
    return samples, int(batch_size)


def _training_arrays(arguments, samples: int | None) -> tuple | None:
    """``(x, y)`` as fit trains on them: the part before ``validation_split``."""
    if samples is None:
        return None
    x, y = arguments.get("x"), arguments.get("y")
    return _head(x, samples), _head(y, samples)


def _head(data, count: int):
    if data is None:
        return None
    if isinstance(data, dict):
        return {key: _head(value, count) for key, value in data.items()}
    if isinstance(data, (list, tuple)):
        return type(data)(_head(value, count) for value in data)
    return data[:count]


def _class_weights(value) -> dict | None:
    """``fit(class_weight=...)`` when it is a non-empty dict, else None."""
    return value if isinstance(value, dict) and value else None


def _weighting(arguments) -> str | None:
    for name in ("class_weight", "sample_weight"):
        value = arguments.get(name)
        # Arrays are not truthy: only None (or an empty dict) means "not given".
        if value is not None and not (isinstance(value, dict) and not value):
            return name
    return None
