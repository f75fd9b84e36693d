"""The Keras callback that watches a fit for training failures and raises alarms."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

import keras

from kmon.engine.alarms.arrays_seen import ArraysSeen
from kmon.engine.alarms.baseline_watch import UNREAD, BaselineWatch, Unread
from kmon.engine.alarms.batch_losses import SETTLE_LOSSES, BatchLosses
from kmon.engine.alarms.book import AlarmBook
from kmon.engine.alarms.data_alarms import judge_data
from kmon.engine.alarms.epoch_watch import EpochWatch
from kmon.engine.alarms.gradient_alarms import GradientAlarms
from kmon.engine.alarms.gradients import gradient_norms, gradients_unavailable
from kmon.engine.alarms.kinds import PREDICTION_ALARMS
from kmon.engine.alarms.loss_worker import loss_worker
from kmon.engine.alarms.probe_batch import (
    FitData,
    ProbeBatch,
    probe_batches,
    training_targets,
    user_probe_batch,
)
from kmon.engine.alarms.probe_budget import (
    ProbeAftermath,
    ProbeBudget,
    keep_budget,
    probe_budgets,
    resume_budget,
)
from kmon.engine.alarms.probe_config import ProbeConfig
from kmon.engine.alarms.probe_heads import Head, align, heads_of
from kmon.engine.alarms.probe_pacing import ProbePacing
from kmon.engine.alarms.spread import spread
from kmon.engine.alarms.tape_losses import TapeLosses
from kmon.engine.alarms.unit_watch import UnitWatch
from kmon.engine.events import Event, Notice, Probes
from kmon.engine.head_map import HeadMap
from kmon.engine.stop import StopSignal
from kmon.engine.training.batch_threads import batch_ends_on_training_thread
from kmon.engine.training.heads import built_head_map, preview_head_map
from kmon.engine.training.metric_kinds import overrides

#: Checks that clear any prediction alarm (each rule's ``clear_after``).
FINAL_CHECKS = 2


class ProbeCallback(keras.callbacks.Callback):
    """Probes one ``fit()`` call and raises alarms through ``book``.

    At train begin it checks the data (scale, feature ranges, NaN/Inf) and keeps a
    probe batch. In ``on_train_batch_begin``, which Keras always calls on the
    training thread between steps (so the weights are consistent and asynchronous
    batch-end dispatch stays possible), it runs the prediction and gradient probes
    when their time budget allows; the common batch only counts down to the next
    look (:class:`~.probe_pacing.ProbePacing`). ``on_train_batch_end`` checks that
    the loss is finite and keeps it on a tape that each epoch's end (and a look,
    once it holds :data:`SETTLE_LOSSES`) hands to :class:`~.epoch_watch.EpochWatch` (loss spikes), which ``on_epoch_end``
    gives the epoch's logs (overfitting, a rising loss). Outside probe steps every
    hook is O(1). Carried by kmon's monitor on TensorFlow
    (:class:`~kmon.engine.run.probed_monitor.ProbedMonitor`), it is not in Keras's
    list: the monitor's batch begins call :meth:`look`, and the looks read the losses
    off the monitor's batch ends (:meth:`read_losses_from`). The constant-predictor baselines, collapse or
    not learning yet, and ``no_learning`` at epoch ends are
    :class:`~.baseline_watch.BaselineWatch`'s.

    What each head is (its name, whether it is a classifier) comes from the fit's
    head map. A subclassed model's is known only after its first step: until then
    the prediction probes wait, and so do the data checks when there are targets to
    check.

    The callback is ``async_safe``: its batch-end hook reads a float and does a few
    float operations, without a lock (see :class:`~.epoch_watch.EpochWatch`).

    Args:
        emit: receives notices; alarms go through ``book``, which emits them too.
        fit_index: 0-based number of this ``fit()`` call within the run.
        book: the run's alarms (shared by every fit, so a later fit can clear them).
        data: what ``fit()`` trains on, to take the probe batch from.
        config: probe settings (budget, thresholds, ``stop_on_nan``).
        stop: raised on a NaN loss when ``config.stop_on_nan``.
        head_map: returns the fit's head map as ``fit_start`` carries it (or as read
            after the first step), e.g. :meth:`KmonCallback.head_map
            <kmon.engine.training.callback.KmonCallback.head_map>`; without it the
            head map is read from the model here.
    """

    def __init__(
        self,
        emit: Callable[[Event], None],
        fit_index: int,
        book: AlarmBook,
        data: FitData | None,
        *,
        config: ProbeConfig | None = None,
        stop: StopSignal | None = None,
        head_map: Callable[[], HeadMap | None] | None = None,
        arrays_seen: ArraysSeen | None = None,
    ) -> None:
        super().__init__()
        self.async_safe = True
        self._arrays_seen = arrays_seen
        """The run's memo of what earlier fits' starts took from the same arrays."""
        self._emit = emit
        self._fit = fit_index
        self._book = book
        self._data = data
        self.config = config or ProbeConfig()
        self._stop = stop or StopSignal()
        self._epoch = 0
        self._probe: ProbeBatch | None = None
        self._head_map = head_map
        self._heads: list[Head] = []
        self._heads_pending = False
        """The head map is not known yet: read it again once a step ran."""
        self._unchecked: ProbeBatch | None = None
        """A data-check sample with targets, waiting for the heads to split them."""
        self._stepped = False
        """A batch began: every later one follows a step."""
        self._gradients = GradientAlarms(book)
        self._skipped: set[str] = set()
        self._units = UnitWatch(book, self._note)
        self.predictions, self.gradients = probe_budgets(self.config)
        self.aftermath = ProbeAftermath()
        self._pacing = ProbePacing()
        self._wait = 1
        """Batch begins until the next look."""
        self._early_fit = True
        """The fit began in the model's early schedule (or probes by ``every``)."""
        self._fitted = None
        self._weights_unseen = False
        self._data_checked = False
        fed = data or FitData(None)
        self._losses = EpochWatch(book, fit_index, samples=fed.samples, batch_size=fed.batch_size)
        """Overfitting and unstable training, from the losses Keras logs."""
        self._watch = BaselineWatch(
            emit, book, fit_index, self.config, data.class_weight if data is not None else None
        )
        """Baselines, collapse or not learning yet, and no_learning."""
        worker = loss_worker(batch_ends_on_training_thread())  # off the training thread
        self._batch_losses = BatchLosses(
            book, self._losses, self._watch.learning, self._where, self._stop_on_nan, worker
        )
        self._losses_due = self._batch_losses.due
        self._settle = self._batch_losses.settle
        self._tape_losses: TapeLosses | None = None

    def read_losses_from(self, shipped: deque[list], current: Callable[[], list | None]) -> None:
        """Take the losses from a monitor's batch ends at each look (:mod:`~.tape_losses`),
        not from the batch-end hook, which Keras then need not call (not with
        ``stop_on_nan``: it stops at the NaN's own batch end)."""
        self._tape_losses = TapeLosses(shipped, current, self._batch_losses)
        self._settle = self._tape_losses.settle

    # -- fit start: data checks and the probe batch ------------------------------------------

    def on_train_begin(self, logs=None):
        # For on_train_batch_end, which may run off the training thread: there, on
        # JAX, Callback.model would sync the training state while the next step
        # donates its buffers.
        self._fitted = self.model
        self._pacing.start()
        self._wait = 1
        self._losses_due.clear()
        if self._tape_losses is not None:
            self._tape_losses.reset()
        # A train_step of the model's own may log anything as its loss.
        self._losses.begin(self.model, per_batch=not overrides(self.model, "train_step"))
        if self._tape_losses is not None:
            self._tape_losses.running_means = self._losses.per_batch
        self._watch.learning.steps = (self.params or {}).get("steps")
        try:
            probe, sample, reason = self._probe_batches()
            self._heads = heads_of(self._read_head_map())
        except Exception as exc:  # noqa: BLE001 - a probe must never break training
            probe, sample, reason = None, None, f"no probe batch ({type(exc).__name__}: {exc})"
        if reason:
            self._note(reason)
        self._heads_pending = not self._heads
        if sample is not None and sample.y is not None and self._heads_pending:
            self._unchecked = sample
        elif sample is not None:
            self._check_data(sample)
        self._probe = probe if probe is not None and probe.y is not None else None
        if probe is not None and probe.y is None:
            self._note("no targets in the probe batch: prediction and gradient probes are off")
        why = gradients_unavailable(self.model) if self._probe is not None else None
        if why and self.config.gradients:
            self._note(why)
        if why or not self.config.gradients:
            self.gradients = None
        # Built by its first step (subclassed): its weights are judged then.
        self._weights_unseen = self.gradients is not None and not getattr(self.model, "built", True)
        steps = self._watch.learning.steps
        if self.config.every is None:
            resume_budget(self.model, "predictions", self.predictions, steps)
        # A fit in the model's early schedule may end in the debt that schedule ran
        # up: its final checks (see _check_final_weights) do not wait for credit.
        self._early_fit = self.config.every is not None or self.predictions.early_epochs > 0
        if self.gradients is not None and self.config.gradient_every is None:
            resume_budget(self.model, "gradients", self.gradients, steps)
        self._gradients.resume()
        self._data_checked = sample is not None
        self._announce()

    def _probe_batches(self) -> tuple[ProbeBatch | None, ProbeBatch | None, str | None]:
        """:func:`probe_batches`, or what an earlier fit's start took from the same
        arrays, unchanged (a fit in a loop: 2 ms of a CNN's fit start)."""
        data, seen = self._data, self._arrays_seen
        if seen is None or user_probe_batch() is not None:
            return probe_batches(data, self.config)
        extra = ("probe batches", data.samples, self.config.size, self.config.data_rows)
        return seen.recall(
            (data.x, data.y, data.sample_weight), extra, lambda: probe_batches(data, self.config)
        )

    def _read_head_map(self) -> HeadMap | None:
        if self._head_map is not None:
            return self._head_map()
        return built_head_map(self.model) or preview_head_map(self.model)

    def _read_heads_after_first_step(self) -> None:
        """The head map of a model built by its first step, and the data checks that
        waited for it."""
        self._heads_pending = False
        try:
            self._heads = heads_of(self._read_head_map())
        except Exception as exc:  # noqa: BLE001 - a probe must never break training
            self._note(f"heads unknown ({type(exc).__name__}: {exc})")
        if not self._heads and self._probe is not None:
            # No compiled loss or metrics to read heads from (nor gradients to take).
            self._note("the model's heads are not known: prediction probes are off")
            self._probe = None
            self._announce()
        sample, self._unchecked = self._unchecked, None
        if sample is not None:
            self._check_data(sample)

    def _check_data(self, sample: ProbeBatch) -> None:
        judge_data(self._book, self._fit, self.model, self._heads, sample, self._arrays_seen)
        try:
            targets = training_targets(self._data, sample)
            self._watch.start(self.model, self._read_head_map(), targets, self._arrays_seen)
        except Exception as exc:  # noqa: BLE001 - a probe must never break training
            self._note(f"no baselines ({type(exc).__name__}: {exc})")

    # -- periodic probes -------------------------------------------------------------------------

    def on_epoch_begin(self, epoch, logs=None):
        self._settle()
        self._epoch = epoch
        self._losses.epoch_begin()
        self._watch.learning.epoch_begin()

    def on_epoch_end(self, epoch, logs=None, *, learning_rate: float | None | Unread = UNREAD):
        """Judge the epoch; ``learning_rate``, where the caller read it at this epoch's
        end (a :class:`~kmon.engine.run.probed_monitor.ProbedMonitor`), saves a read."""
        self._settle()
        self._losses.epoch_end(epoch, logs or {}, self._read_head_map())
        try:
            where = self._where(self._watch.learning.last_step)
            self._watch.epoch_end(self._fitted, logs, where, learning_rate=learning_rate)
        except Exception as exc:  # noqa: BLE001 - a check must never break training
            self._note(f"no_learning check turned off after an error: {type(exc).__name__}: {exc}")
            self._watch.learning.enabled = False

    def on_train_batch_begin(self, batch, logs=None):
        self._wait -= 1
        if self._wait > 0:
            return  # the common batch: no probe can be due yet (see ProbePacing)
        self._wait = self.look(batch)

    def look(self, batch: int) -> int:
        """Run the probes that are due; batches until the next look."""
        if self._tape_losses is not None:
            self._tape_losses.take()
        if len(self._losses_due) >= SETTLE_LOSSES:
            self._batch_losses.hand_off()
        if self._heads_pending and self._stepped:
            self._read_heads_after_first_step()
        self._stepped = True
        pacing = self._pacing
        if self._probe is None:
            return pacing.next_wait(self.aftermath, None, None, every_step=self._heads_pending)
        pacing.elapse(self.aftermath, self.predictions, self.gradients)
        ran: tuple[ProbeBudget, ...] = ()
        if self.predictions.due and not self._heads_pending:
            self._run(self.predictions, self._probe_predictions, batch)
            ran = (self.predictions,)
        if self._weights_unseen and self.predictions.steps:
            self._weights_unseen = False
            why = gradients_unavailable(self.model)
            if why:
                self._note(why)
                self.gradients = None
                self._announce()
        # Not before this fit's first step: Keras builds the compiled loss (and its
        # per-output trackers, which compute_loss updates) in the first train step.
        gradients = self.gradients
        if gradients is not None and self.predictions.steps and gradients.due:
            self._run(gradients, self._probe_gradients, batch)
            ran = (*ran, gradients)
        if ran:
            self.aftermath.probed(ran)
        if self._probe is None:
            return pacing.next_wait(self.aftermath, None, None)
        return pacing.next_wait(
            self.aftermath, self.predictions, self.gradients, every_step=self._heads_pending
        )

    def _run(self, budget: ProbeBudget, probe: Callable[[int], None], step: int) -> None:
        start = time.perf_counter()
        try:
            probe(step)
        except Exception as exc:  # noqa: BLE001 - a probe must never break training
            self._note(f"probe turned off after an error: {type(exc).__name__}: {exc}")
            if budget is self.predictions:
                self._probe = None
            else:
                self.gradients = None
            self._announce()
        budget.spent(time.perf_counter() - start)

    def _probe_predictions(self, step: int) -> None:
        # One forward pass: the predictions, and the ReLU layers' activity on the way.
        y_pred = self._units.predict(self.model, self._probe)
        for head, pred, target in align(self._heads, y_pred, self._probe.y):
            if pred is None or head.name in self._skipped:
                continue
            measured = spread(head, pred, target)
            if measured is None:
                self._skip(head.name, "its predictions and targets have different shapes")
                continue
            if measured.constant_target:
                self._skip(head.name, "its targets are (nearly) constant in the probe batch")
                continue
            self._watch.judge(head.name, measured, pred, target, self._probe, self._where(step))
        self._units.judge(self._heads, y_pred, self._probe, self._where(step))

    def _probe_gradients(self, step: int) -> None:
        norms, loss = gradient_norms(self.model, self._probe)
        if not norms:
            return
        self._watch.gradients(*self._gradients.judge(norms, loss, self._where(step)))

    def on_train_end(self, logs=None):
        self._settle()
        if self._heads_pending:
            self._read_heads_after_first_step()
        self._check_final_weights()
        keep_budget(self.model, "predictions", self.predictions)
        if self.gradients is not None:
            keep_budget(self.model, "gradients", self.gradients)

    def _check_final_weights(self) -> None:
        """Judge the final weights where a prediction alarm is still raised, as many
        times as clearing it takes: a short fit whose early schedule of probes took
        the rest of its budget (a GRU's) saw none in its last epochs, and ended on
        an alarm its model had outgrown. After the early schedule a check waits for
        its credit as any probe does: a model the alarm fits (a CNN on noise) ran
        two 30 ms checks at every 2 s fit's end, 2.4% of training on a 1.1% budget."""
        budget = self.predictions
        if self._probe is None or self._heads_pending or not budget.steps:
            return
        if not any(kind in PREDICTION_ALARMS for kind, _subject in self._book.active):
            return
        step = self._watch.learning.last_step
        for _ in range(FINAL_CHECKS):
            if not self._early_fit and budget.credit < (budget.estimate or 0.0):
                return
            if self._probe is not None:  # an error turns the probe off
                self._run(budget, self._probe_predictions, step)

    # -- the loss --------------------------------------------------------------------------------

    def on_train_batch_end(self, batch, logs=None):
        loss = logs.get("loss") if logs else None
        if isinstance(loss, float):
            if loss - loss == 0.0:  # finite: judged at the next look
                self._losses_due.append((batch, loss))
            else:
                self._batch_losses.not_finite(batch, loss)

    def _stop_on_nan(self) -> None:
        if self.config.stop_on_nan:
            self._fitted.stop_training = True
            self._stop.request()
            self._emit(
                Notice(level="warning", text="stopping: the loss is not finite (--stop-on-nan)")
            )

    # -- helpers -----------------------------------------------------------------------------------

    def _where(self, step: int) -> dict:
        return {"fit": self._fit, "epoch": self._epoch, "step": step}

    def _skip(self, head: str, why: str) -> None:
        self._skipped.add(head)
        self._note(f"prediction-variance check skipped for head {head}: {why}")

    def _announce(self) -> None:
        """Tell the monitors what this fit is checked for, from now on."""
        config, probe = self.config, self._probe
        gradients = probe is not None and self.gradients is not None
        self._emit(
            Probes(
                fit=self._fit,
                data=self._data_checked,
                loss=True,
                stop_on_nan=config.stop_on_nan,
                predictions=probe is not None,
                gradients=gradients,
                probe_samples=probe.rows if probe is not None else None,
                budget=config.budget if config.every is None else None,
                gradient_budget=config.gradient_budget if config.gradient_every is None else None,
                every=config.every,
                gradient_every=config.gradient_every,
            )
        )

    def _note(self, text: str) -> None:
        self._emit(Notice(level="info", text=f"alarms: {text}"))
