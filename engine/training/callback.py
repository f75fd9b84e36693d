"""The Keras callback that turns training hooks into kmon events."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

import keras

from kmon.engine.events import (
    EpochEnd,
    EpochStart,
    Event,
    FitEnd,
    FitStart,
    LearningRate,
    Notice,
    TrainEval,
    ValEnd,
)
from kmon.engine.stop import StopSignal
from kmon.engine.training.batch_sizes import BatchSizes
from kmon.engine.training.batch_tape import TAPE_BATCHES, BatchTapeDecoder
from kmon.engine.training.batch_threads import batch_ends_on_training_thread
from kmon.engine.training.callback_text import (
    MULTI_WORKER_STOP_NOTE,
    dispatch_events,
    train_mode_layers,
)
from kmon.engine.training.distribute import is_multi_worker, strategy_of
from kmon.engine.training.heads import FitHeads
from kmon.engine.training.learning_rate import LearningRateWatch, read_learning_rate
from kmon.engine.training.metric_kinds import FirstDispatch, KeyKind, classify_log_keys, overrides
from kmon.engine.training.model_info import output_names
from kmon.engine.training.recovery import BatchValueRecovery, Recovered

#: The batch end's clock, a global name: ``time.time`` looked up in the module at each
#: batch cost 0.27 µs more between two TensorFlow steps (cold caches; 10 fits a side).
_batch_clock = time.time

#: Batch ends wait on a tape and go out together, every ``TAPE_BATCHES`` batches,
#: or once the oldest waited this long (s), and at every other hook. Slow steps
#: fill no tape: each one shipped costs the sinks 50-80 µs whatever it holds (10 a
#: second cost a 12 ms CNN step 0.7% in kmon's threads at 0.1 s), and nothing shows
#: a batch sooner than a frame a second.
TAPE_SECONDS = 0.25
#: The ship-by time of a new tape: its first batch end, finding it past, sets the
#: real one (one compare a batch end, where telling a new tape apart was two).
_NEW_TAPE = float("-inf")


class KmonCallback(keras.callbacks.Callback):
    """Streams one ``fit()`` call as kmon events.

    Each batch hook does O(1) work: the begin counts down to its next look (the
    learning rate every few seconds, the first dispatch's kinds); the end appends the
    batch's step, size, logs (a fresh dict of floats from Keras: no copy) and time
    to a tape, recovered and emitted every :data:`TAPE_BATCHES` batches (or
    :data:`TAPE_SECONDS`) and at every other hook, in one pass: on the cold caches
    between two steps, one pass over many batches costs a fraction of separate ones.

    The callback is ``async_safe``: Keras may call its batch hooks from worker
    threads and out of order (it does on thread-safe backends such as JAX and
    torch). :class:`~kmon.engine.training.recovery.BatchValueRecovery` puts them back in
    step order without a lock.

    Args:
        emit: receives every event; called on the training thread.
        fit_index: 0-based number of this ``fit()`` call within the run.
        stop: when ``stop.requested`` turns true, training stops after the batch.
        samples: training samples per epoch when known (array inputs).
        batch_size: batch size when known (array inputs).
        initial_epoch: the ``initial_epoch`` passed to ``fit()``.
        weighting: ``"class_weight"`` or ``"sample_weight"`` when ``fit()`` got one.
        training_data: ``(x, y)`` to evaluate on at every epoch end (final weights,
            inference mode), so History's value can be compared with it. Costs one
            ``evaluate()`` per epoch: off unless asked for.
        model_index: which of the run's models this fit trains (see
            :attr:`~kmon.engine.events.FitStart.model_index`).
        early_stopping: the fit's callbacks that can end it early (see
            :attr:`~kmon.engine.events.FitStart.early_stopping`).
        batch_tapes: emit each tape as one :class:`~.batch_tape.BatchTape` that the
            sinks recover, rather than recovering it on the training thread. Only
            where batch ends run on the training thread (TensorFlow), and only with
            sinks that expand tapes (the event-log writer, the monitor's channel).
    """

    def __init__(
        self,
        emit: Callable[[Event], None],
        fit_index: int,
        *,
        stop: StopSignal | None = None,
        samples: int | None = None,
        batch_size: int | None = None,
        initial_epoch: int = 0,
        weighting: str | None = None,
        training_data: tuple | None = None,
        model_index: int | None = None,
        early_stopping: list[str] | None = None,
        batch_tapes: bool = False,
    ) -> None:
        super().__init__()
        # What the batch hooks read, first: an instance's attributes lie in its dict in
        # the order first set, so these share a few cache lines, which between two
        # TensorFlow steps are cold (0.15-0.25 µs a hook, against the same set last).
        self._look = 1
        """Batch begins until the next look (see :meth:`on_train_batch_begin`)."""
        self._full_steps = 0
        """Steps below this carry ``batch_size`` samples (:attr:`BatchSizes.full_steps
        <.batch_sizes.BatchSizes.full_steps>`, kept here for the batch end)."""
        self._batch_size = batch_size
        self._tape: deque | list | None = None
        """Batch ends waiting to be recovered, once the first dispatch is out."""
        self._ship_by = _NEW_TAPE
        """When the tape's oldest batch end will have waited :data:`TAPE_SECONDS`:
        one float compared at each batch end, where reading the oldest's time was
        three calls and a tuple on cold caches (0.4 µs a step); :data:`_NEW_TAPE`
        until a new tape's first batch end sets it."""
        self._stop = stop or StopSignal()
        self._span = 1
        """Batch begins from the last look to the next."""
        self.async_safe = True
        self._emit = emit
        self._fit = fit_index
        self._initial_epoch = initial_epoch
        self._weighting = weighting
        self._training_data = training_data
        self._model_index = model_index
        self._early_stopping = early_stopping
        self._epoch = initial_epoch
        self.last_epoch_end: int | None = None
        """The last epoch whose end this reported."""
        self._sizes = BatchSizes(samples, batch_size)
        self._recovery = BatchValueRecovery(dict)
        self._train_thread: threading.Thread | None = None
        self._heads = FitHeads()
        self._first = FirstDispatch()
        self._fitted = None
        self._multi_worker = False
        self._stop_noted = False
        self._rate = LearningRateWatch()
        self.epoch_end_rate: float | None = None
        """The rate read at the last epoch's end, for the probes (None: unreadable)."""
        self._batch_tapes = batch_tapes
        self._decoder: BatchTapeDecoder | None = None
        """Recovers shipped tapes, with batch tapes, once the first dispatch is out."""
        self.batch_ends: deque[list] | None = None
        """Each batch-end list shipped, for :meth:`keep_batch_ends`; None: not kept."""

    def on_train_begin(self, logs=None):
        params = self.params or {}
        # Kept for the batch-end hooks: on JAX, Callback.model syncs the training
        # state into the variables, which off the training thread races the next
        # step's buffers (it runs while they are donated).
        model = self._fitted = self.model
        self._stop.stop_fit_with(self._stop_fit)
        self._train_thread = threading.current_thread()
        spe = int(getattr(model, "steps_per_execution", 1) or 1)
        self._multi_worker = is_multi_worker(strategy_of(model))
        # Keras's own train_step adds each batch's samples to the loss tracker; a
        # custom one may count steps (the keras-io guide's does), so its count
        # cannot tell a dataset's batch sizes.
        count = not overrides(model, "train_step") and not self._multi_worker
        # Where a resumed fit starts: BackupAndRestore (earlier in the callback list)
        # has set it by now, and Keras's trainers read it the same way.
        self._initial_epoch = getattr(model, "_initial_epoch", None) or self._initial_epoch
        self._epoch = self._initial_epoch
        self._sizes.start(spe, count=count)
        self._full_steps = self._sizes.full_steps
        self._recovery = BatchValueRecovery(self._classify, spe)
        self._heads.preview(model)
        self._first = self._sizes.first_dispatch(params.get("steps"))
        self._tape, self._decoder, self._look, self._span = None, None, 1, 1
        self._ship_by = _NEW_TAPE
        self._emit(
            FitStart(
                fit=self._fit,
                epochs=int(params.get("epochs") or 1),
                steps=params.get("steps"),
                outputs=output_names(model, by_layer=True),
                model=getattr(model, "name", None),
                initial_epoch=self._initial_epoch,
                batch_size=self._batch_size,
                samples=self._sizes.samples,
                steps_per_execution=spe,
                train_mode_layers=train_mode_layers(model),
                weighting=self._weighting,
                heads=self._heads.previewed,
                extra_losses=self._heads.extra_losses,
                model_index=self._model_index,
                early_stopping=self._early_stopping,
            )
        )
        self._read_rate(model, None, None)

    def _read_rate(self, model, epoch: int | None, step: int | None) -> None:
        """Send the learning rate when it changed since the last reading."""
        value = read_learning_rate(model)
        if self._rate.changed(value):
            self._emit(LearningRate(fit=self._fit, value=value, epoch=epoch, step=step))

    def _classify(self) -> dict[str, KeyKind] | None:
        """How each log key is recovered; None off the training thread.

        The classification reads the loss trackers' counts, which are settled only
        between steps: asynchronous batch-end hooks run while the next step (and the
        gradient probe before it) updates them, so there the first dispatch waits
        for the training thread's next hook (see :meth:`on_train_batch_begin`).
        """
        if threading.current_thread() is not self._train_thread:
            return None
        # Callback.model syncs JAX's training state into the variables first.
        model = self.model
        self._heads.read_built(model)
        return classify_log_keys(
            model, sample_weighted=self._weighting is not None, first=self._first
        )

    def head_map(self) -> dict | None:
        """The fit's head map: the one ``fit_start`` carried, or the one read after the
        first step when that differs (a subclassed model's); None until known."""
        return self._heads.head_map()

    def on_epoch_begin(self, epoch, logs=None):
        self.flush_batches()
        self._epoch = epoch
        if self._decoder is not None:
            self._decoder.epoch_begins()  # the recovery is the sinks' now: reset in turn
        else:
            self._recovery.reset()
        self._sizes.epoch_begins()
        self._emit(EpochStart(fit=self._fit, epoch=epoch))

    def on_train_batch_begin(self, batch, logs=None):
        self._look -= 1
        if self._look > 0:
            return  # the common batch: nothing to look at
        self._look = self._span = self.look(batch)

    def look(self, batch: int) -> int:
        """What a batch begin looks at when due (:attr:`_span` batch begins after the
        last look); batch begins until the next look."""
        # On the training thread, between steps. Before the probes (later in the
        # callback list), so the counts are those the first dispatch left.
        if self._recovery.kinds is None and batch > 0 and self._decoder is None:
            self._emit_batches(self._recovery.ready(), time.time())
        # The learning rate every few seconds, here because this hook is always on
        # the training thread (JAX's and torch's batch ends are not): Callback.model
        # syncs JAX's state, so a schedule sees the current iterations.
        rate = self._rate
        if rate.due(self._span):
            self._read_rate(self.model, self._epoch, batch)
        # Every batch until the first dispatch is recovered, then at the clock's looks.
        return 1 if self._recovery.kinds is None else rate.countdown

    def on_train_batch_end(self, batch, logs=None):
        now = _batch_clock()
        if batch < self._full_steps:
            # The common case, worked out once per fit: a whole batch of known size.
            size = self._batch_size
        else:
            batch, size = self._sizes.at(batch, self._live_model)
        tape = self._tape
        if tape is not None:
            tape.append((batch, size, logs, now))
            if len(tape) >= TAPE_BATCHES or now >= self._ship_by:
                # Inline, not a method (one call less a tape): full or past its time,
                # or new (a pool thread's race only ships a tape early).
                if len(tape) < TAPE_BATCHES and self._ship_by == _NEW_TAPE:
                    self._ship_by = now + TAPE_SECONDS
                elif type(tape) is list:  # only with a decoder, on the training thread
                    self._ship(tape)
                else:
                    self.flush_batches()
        else:
            if self.batch_ends is not None:
                self.batch_ends.append([(batch, size, logs, now)])  # the first dispatch's
            recovered = self._recovery.add(batch, size, logs or {})
            if recovered:
                self._emit_batches(recovered, now)
                if self._recovery.kinds is not None:
                    self._start_tape()

    def _start_tape(self) -> None:
        """The first dispatch is out: batch ends go on the tape from now on (once: two
        pool threads may both recover one first). A list where batch ends run on the
        training thread (TensorFlow), which swaps it; else a deque any thread takes from."""
        if self._tape is None:
            if self._batch_tapes:
                self._decoder = BatchTapeDecoder(self._recovery, self._events_of)
            in_order = self._batch_tapes and batch_ends_on_training_thread()
            self._tape = [] if in_order else deque()

    def keep_batch_ends(self) -> deque[list] | None:
        """Append each list of ``(step, size, logs, time)`` shipped from now on (a tape,
        or a batch of the first dispatch) to :attr:`batch_ends`, for a reader on the
        training thread (which pops them); :attr:`tape` holds those not shipped yet.
        Only with batch tapes on TensorFlow (lists no one changes once shipped)."""
        if not self._batch_tapes:
            return None
        if self.batch_ends is None:
            self.batch_ends = deque()
        return self.batch_ends

    @property
    def tape(self) -> list | None:
        """The batch ends not shipped yet; None before the first dispatch is out."""
        return self._tape

    def _ship(self, tape: list) -> None:
        """Ship a list tape (TensorFlow's batch ends, on the training thread): the
        batch end calls this, not :meth:`flush_batches` (3 µs less a tape, cold)."""
        self._tape, self._ship_by = [], _NEW_TAPE
        self._emit(self._decoder.ship(tape, self._epoch))
        if self.batch_ends is not None:
            self.batch_ends.append(tape)

    def flush_batches(self) -> None:
        """Emit every batch end on the tape: as one tape (with batch tapes), or
        recovered in one pass (any thread; each entry is taken once: ``popleft``)."""
        tape = self._tape
        if not tape:
            return
        decoder = self._decoder
        if type(tape) is deque:
            # Before taking the batch ends: one a pool thread appends meanwhile, the
            # first on the next tape, sets the next deadline.
            self._ship_by = _NEW_TAPE
        if decoder is not None:
            if type(tape) is deque:  # batch ends on Keras's pool threads (torch)
                decoder.ship_from(tape, self._epoch, self._emit)
            elif threading.current_thread() is self._train_thread:  # only it swaps a list
                self._ship(tape)
            return
        add, emit_batches = self._recovery.add, self._emit_batches
        while True:
            try:
                batch, size, logs, now = tape.popleft()
            except IndexError:
                return
            recovered = add(batch, size, logs or {})
            if recovered:
                emit_batches(recovered, now)

    def _emit_batches(self, recovered: list[Recovered], now: float) -> None:
        emit, epoch = self._emit, self._epoch
        for ready in recovered:
            for event in self._events_of(ready, now, epoch):
                emit(event)

    def _events_of(self, ready: Recovered, now: float, epoch: int) -> list[Event]:
        """The events one recovered dispatch stands for."""
        return dispatch_events(
            ready, now, epoch, self._fit, self._heads.built, self._heads.built_extra_losses
        )

    def on_test_begin(self, logs=None):
        # Validation of an epoch of one dispatch (see on_epoch_end): its batch event
        # goes out before the validation's.
        self.flush_batches()
        if self._decoder is None:
            self._emit_batches(self._recovery.ready(), time.time())

    def on_test_end(self, logs=None):
        # Only called for validation inside fit(): a user's own evaluate() builds
        # its own callback list without this callback.
        self._emit(ValEnd(fit=self._fit, epoch=self._epoch, logs=dict(logs or {})))

    def _stop_fit(self) -> None:
        """A stop request, on the requesting thread: Keras ends the fit after the
        batch it is running (its training loop reads the flag after each batch end)."""
        self._fitted.stop_training = True

    def _note_stop(self) -> None:
        """A stopped worker of several: say the others wait for it (training thread)."""
        if self._multi_worker and self._stop.requested and not self._stop_noted:
            self._stop_noted = True
            self._emit(Notice(level="warning", text=MULTI_WORKER_STOP_NOTE))

    def on_epoch_end(self, epoch, logs=None):
        self._note_stop()
        # An epoch of one dispatch on an asynchronous backend: its batch event waited
        # for a training-thread hook, and this is the first (Keras waited for the
        # batch-end hooks before calling it). Kinds read now may see counts that
        # validation reset, but a first dispatch's value does not depend on them.
        self.flush_batches()
        if self._decoder is None:
            self._emit_batches(self._recovery.ready(), time.time())
        if self._training_data is not None:
            x, y = self._training_data
            result = self.model.evaluate(
                x, y, batch_size=self._batch_size, verbose=0, return_dict=True
            )
            self._emit(TrainEval(fit=self._fit, epoch=epoch, logs=dict(result)))
        # After the fit's own callbacks (kmon's come last): a rate ReduceLROnPlateau
        # cut at this epoch's end is this epoch's.
        rate = self.epoch_end_rate = read_learning_rate(self.model)
        self._rate.changed(rate)
        self._emit(EpochEnd(fit=self._fit, epoch=epoch, logs=dict(logs or {}), learning_rate=rate))
        self.last_epoch_end = epoch

    def on_train_end(self, logs=None):
        self._stop.fit_ended(self._stop_fit)
        self._note_stop()
        self.flush_batches()
        stopped = bool(getattr(self.model, "stop_training", False))
        self._emit(FitEnd(fit=self._fit, stopped_early=stopped))

    def _live_model(self):
        # Callback.model: on JAX it syncs the training state into the variables.
        return self.model
