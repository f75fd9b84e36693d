"""Folds an event stream into the state a monitor shows.

The TUI, the headless reporter and replays all read a :class:`RunState`; none of
them interprets raw events on its own. What grows with batches and printed lines is
bounded: series are min/max buckets and the log keeps its newest lines.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from kmon.engine.events import (
    LOG_TOPIC,
    NO_FIT_TOPIC,
    THREADS_TOPIC,
    Alarm,
    Baselines,
    Batch,
    EpochEnd,
    EpochStart,
    Event,
    FitEnd,
    FitStart,
    LearningRate,
    Log,
    Notice,
    Probes,
    RunEnd,
    RunStart,
    ScriptStart,
    System,
    TrainEval,
    ValEnd,
    ValueKinds,
)
from kmon.engine.phases import (
    BETWEEN_FITS,
    FINISHED,
    RUNNING_SCRIPT,
    STARTING,
    TRAINING,
    WAITING_FOR_THREADS,
)
from kmon.engine.series import BucketSeries, MetricSeries, SmoothedSeries
from kmon.engine.view.batch_fold import fold_batch_events, fold_batch_run
from kmon.engine.view.block_fold import fold_batch_block, fold_batch_blocks
from kmon.engine.view.fold_dispatch import handlers_by_type
from kmon.engine.view.head_board import HeadBoard
from kmon.engine.view.model_segments import ModelSegment, ModelSegments
from kmon.engine.view.pace import Pace
from kmon.engine.view.run_progress import RunProgress
from kmon.engine.view.run_records import BatchLossStats, EpochRecord, FitInfo, LogLine
from kmon.engine.view.system_view import LearningRates, SystemView

#: Alarm events (raised, cleared and ended) a state keeps.
ALARM_HISTORY = 500
#: EMA smoothing of per-batch losses (the TUI can show it instead of raw values).
EMA_BETA = 0.9
#: Metrics kept batch by batch for a model that logs no ``loss``.
METRIC_SERIES = 6


@dataclass
class RunState(RunProgress):
    """Everything a monitor shows about one run.

    Args:
        log_capacity: newest log lines kept.
        series_capacity: buckets kept per batch-level series.
    """

    log_capacity: int = 2000
    series_capacity: int = 512
    batch_series: bool = True
    """Keep the batch-level series (:attr:`batch_loss`, :attr:`batch_values`,
    :attr:`batch_ema`), which only charts read. False for a state nobody draws (the
    headless reporter's): they stay empty, and a fit's batches fold in about 40% less
    time; steps, epochs and each epoch's batch losses fold as before."""

    name: str = ""
    argv: list[str] = field(default_factory=list)
    started: float | None = None
    ended: float | None = None
    last_t: float | None = None
    status: str | None = None
    """None while running, then the ``run_end``'s: "ok", "failed" or "stopped", or
    one a source makes up, never logged: "stale" (a followed run's process is gone,
    :class:`~kmon.engine.log.sources.FollowSource`) or "unfinished" (a replayed log
    ends without ``run_end``, :class:`~kmon.engine.log.sources.LogFileSource`)."""
    exit_code: int | None = None
    error: dict[str, str] | None = None
    phase: str = STARTING
    """What the run is doing, one of :mod:`kmon.engine.phases`: STARTING (kmon imports
    TensorFlow; again for a run appended to the log), RUNNING_SCRIPT (no fit() yet),
    TRAINING (in a fit()), BETWEEN_FITS, WAITING_FOR_THREADS (the script's code
    returned, its threads run on) or FINISHED."""
    script_returned: bool = False
    """The script's code has returned and kmon waits for its threads (a notice of
    topic ``THREADS_TOPIC`` came): a fit that ends then leaves WAITING_FOR_THREADS."""
    no_fit_notice: Notice | None = None
    """The notice that the script ran a while without calling fit() (topic
    ``NO_FIT_TOPIC``), once it came."""

    fits: list[FitInfo] = field(default_factory=list)
    fit: int | None = None
    epoch: int | None = None
    step: int | None = None
    epoch_started: float | None = None
    total_steps: int = 0
    batches: int = 0
    last_batch_logs: dict[str, float] = field(default_factory=dict)
    history: list[EpochRecord] = field(default_factory=list)
    last_val_logs: dict[str, float] = field(default_factory=dict)
    notices: list[Notice] = field(default_factory=list)
    log_problem: Notice | None = None
    """The latest notice that the event log is incomplete (topic ``LOG_TOPIC``):
    from where on and why; None while it is complete."""
    alarms: dict[tuple[str, str | None], Alarm] = field(default_factory=dict)
    """Active alarms by (kind, subject), in the order they were raised; an alarm
    cleared, or ended with its model, leaves."""
    alarm_history: deque[Alarm] = field(default_factory=lambda: deque(maxlen=ALARM_HISTORY))
    """Alarm events, raised, cleared and ended, oldest first (the newest ALARM_HISTORY)."""
    probes: Probes | None = None
    """What the latest fit is checked for; None before it says (or in older logs)."""
    dropped: int = 0
    """Batch events a slow monitor coalesced away (the event log still has them)."""
    heads: HeadBoard | None = None
    """The current fit's heads: per-output losses and metrics, latest values."""
    system: SystemView = field(default_factory=SystemView)
    """The ``system`` samples: CPU, memory and GPUs (the System tab)."""
    learning_rates: LearningRates = field(default_factory=LearningRates)
    """The optimizer's learning rate: now, and at each epoch's end."""

    log_lines: deque[LogLine] = field(init=False)
    log_total: int = 0
    batch_loss: BucketSeries = field(init=False)
    """Keras's running mean of the loss after each batch (what its progress bar shows)."""
    batch_values: BucketSeries = field(init=False)
    """Each batch's own loss, recovered from the running means."""
    unrecovered_batches: int = 0
    """The current model's batches that logged a loss whose own value was not
    recoverable."""
    batch_ema: SmoothedSeries = field(init=False)
    """Bias-corrected EMA (beta ``EMA_BETA``) of the recovered per-batch loss."""
    segments: list[ModelSegment] = field(init=False)
    """The run's models, one segment per stretch of fits training the same one. The
    batch series above and :attr:`metric_series` hold the current segment's batches
    only: losses of different models share no scale."""
    metric_series: dict[str, MetricSeries] = field(default_factory=dict)
    """When the current model logs no ``loss``: its training metrics (the first
    ``METRIC_SERIES``), batch by batch."""
    version: int = 0
    """Bumped by every applied event: redraw only when it changed."""

    _pace: Pace = field(init=False, repr=False)
    _epoch_losses: BatchLossStats = field(init=False, repr=False)
    _pending_train_eval: dict[str, float] | None = field(default=None, repr=False)
    _models: ModelSegments = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.log_lines = deque(maxlen=self.log_capacity)
        self._pace = Pace()
        self._epoch_losses = BatchLossStats()
        self._models = ModelSegments()
        self.segments = self._models.segments
        self._new_batch_series()

    def _new_batch_series(self) -> None:
        capacity = self.series_capacity
        self.batch_loss = BucketSeries(capacity)
        self.batch_values = BucketSeries(capacity)
        self.batch_ema = SmoothedSeries(EMA_BETA, capacity)
        self.unrecovered_batches = 0
        self.metric_series = {}

    # -- folding ---------------------------------------------------------------

    def apply_all(self, events: list[Event]) -> None:
        """Fold events in order; also a reader's runs of batch lines
        (:class:`~kmon.engine.log.fast_decode.BatchRun`, type "batch_run") and a
        live fit's blocks of batches (type "batch_block")."""
        index, count = 0, len(events)
        while index < count:
            kind = events[index].type
            if kind == "batch":
                # A replay's drains are mostly batches: fold each run of them at once.
                index = fold_batch_events(self, events, index)
            elif kind == "batch_block":  # a live fit's: its consecutive blocks at once
                index = fold_batch_blocks(self, events, index)
            else:
                self.apply(events[index])
                index += 1

    def apply(self, event: Event) -> None:
        kind = event.type
        if kind == "batch_block":  # not an event: a live fit's batches as columns
            fold_batch_block(self, event)
            return
        if kind == "batch_run":  # not an event: the batches a reader kept as read
            fold_batch_run(self, event)
            return
        self.version += 1
        t = event.t
        if self.last_t is None or t > self.last_t:
            self.last_t = t
        handler = _HANDLERS.get(event.type)
        if handler is not None:
            handler(self, event)

    def _on_run_start(self, event: RunStart) -> None:
        if self.started is not None:
            # A run appended to this log (``--append``: resumed from a checkpoint):
            # its history goes on, the earlier run's ending no longer holds.
            self.status = self.exit_code = self.error = self.ended = None
            self.phase = STARTING
            self.no_fit_notice = None
            self.script_returned = False
        else:
            self.started = event.t
        self._models.run_started()
        self.argv = list(event.argv)
        if event.scenario:
            self.name = event.scenario + (f" ({event.variant})" if event.variant else "")
        elif event.module:
            self.name = event.module
        elif event.script:
            self.name = event.script.replace("\\", "/").rsplit("/", 1)[-1]

    def _on_script_start(self, event: ScriptStart) -> None:
        if self.phase == STARTING:
            self.phase = RUNNING_SCRIPT

    def _on_fit_start(self, event: FitStart) -> None:
        offset = len(self.history)
        segment, new = self._models.fit_started(event, offset)
        if new and segment.number:
            self._new_batch_series()
        self.fits.append(
            FitInfo(
                event.fit,
                event.epochs,
                event.steps,
                event.outputs,
                event.model,
                event.initial_epoch,
                offset,
                list(event.train_mode_layers),
                event.weighting,
                model_index=event.model_index,
                segment=segment.number,
                early_stopping=event.early_stopping,
                steps_per_execution=event.steps_per_execution,
            )
        )
        self.fit, self.epoch, self.step = event.fit, None, None
        self.phase = TRAINING
        self.heads = HeadBoard(event)

    def _on_value_kinds(self, event: ValueKinds) -> None:
        info = self.current_fit
        if info is not None and info.fit == event.fit:
            info.value_kinds = dict(event.kinds)
        self._fold_heads(event)

    def _on_epoch_start(self, event: EpochStart) -> None:
        self.fit, self.epoch, self.step = event.fit, event.epoch, None
        self.epoch_started = event.t
        self.phase = TRAINING
        self._pace.epoch_started(event.t)
        self._epoch_losses = BatchLossStats()
        self._fold_heads(event)

    def _on_batch(self, event: Batch) -> None:
        self.batches += 1
        self._fold_heads(event)
        if event.fit == self.fit and event.epoch == self.epoch and self.step is not None:
            advanced = event.step - self.step if event.step > self.step else 0
        else:
            advanced = event.step + 1
        self.fit, self.epoch = event.fit, event.epoch
        if self.step is None or advanced > 0:
            self.step = event.step
        self.total_steps += advanced
        pace = self._pace
        pace.window.append((event.t - pace.paused, self.total_steps))
        self.last_batch_logs = event.logs
        loss = event.logs.get("loss")
        series = self.batch_series
        if loss is not None:
            if series:
                self.batch_loss.append(float(loss))
        elif event.logs:
            self._fold_metrics(event)
        value = event.values.get("loss") if event.values else None
        self._epoch_losses.add(value, event.size, event.span)
        if value is not None:
            if series:
                self.batch_values.append(value)
                self.batch_ema.add(value)
        elif loss is not None:
            self.unrecovered_batches += 1

    def _fold_metrics(self, event: Batch) -> None:
        """A batch of a model that logs no ``loss``: each metric's own series."""
        values = event.values
        series_of = self.metric_series
        for key, mean in event.logs.items():
            series = series_of.get(key)
            if series is None:
                if len(series_of) >= METRIC_SERIES:
                    continue
                series = series_of[key] = MetricSeries(key, self.series_capacity)
            series.add(mean, values.get(key) if values else None)

    def _on_val_end(self, event: ValEnd) -> None:
        self.last_val_logs = event.logs
        self._pace.validation_ended(event.fit, event.t)
        self._fold_heads(event)
        self.phase = TRAINING

    def _on_train_eval(self, event: TrainEval) -> None:
        self._pending_train_eval = event.logs

    def _on_epoch_end(self, event: EpochEnd) -> None:
        seconds = event.t - self.epoch_started if self.epoch_started is not None else None
        steps = (self.step + 1) if self.step is not None else 0
        losses = self._epoch_losses if self._epoch_losses.complete else None
        info = self.current_fit
        self.history.append(
            EpochRecord(
                event.fit,
                event.epoch,
                len(self.history) + 1,
                event.logs,
                seconds,
                steps,
                losses,
                self._pending_train_eval,
                info.segment if info is not None else 0,
                self.heads.baseline_keys() if self.heads is not None else {},
                event.t,
                self._epoch_losses.count,
                self._epoch_losses.unrecovered,
            )
        )
        self._pending_train_eval = None
        self.learning_rates.epoch_ended(event, len(self.history), self.history[-1].segment)
        self._pace.epoch_ended()
        self._fold_heads(event)

    def _fold_heads(self, event: Event) -> None:
        if self.heads is not None:
            self.heads.apply(event)

    def _on_fit_end(self, event: FitEnd) -> None:
        self.phase = WAITING_FOR_THREADS if self.script_returned else BETWEEN_FITS
        info = self.current_fit
        if info is not None and info.fit == event.fit and event.stopped_early:
            # stop_training set during the last epoch ends the fit on time.
            info.stopped_early = self.epochs_of(event.fit) < info.epochs - info.initial_epoch

    def _on_log(self, event: Log) -> None:
        if self.phase == STARTING and event.stream == "stdout":
            # A log without script_start (an older kmon's): the script prints, so it
            # runs. Not stderr, where TensorFlow's import already writes.
            self.phase = RUNNING_SCRIPT
        self.log_total += 1
        self.log_lines.append(LogLine(self.log_total, event.stream, event.text))

    def _on_notice(self, event: Notice) -> None:
        self.notices.append(event)
        if event.topic == LOG_TOPIC:
            self.log_problem = event
        elif event.topic == NO_FIT_TOPIC:
            self.no_fit_notice = event
        elif event.topic == THREADS_TOPIC and self.phase != FINISHED:
            self.script_returned = True
            if self.phase != TRAINING:
                self.phase = WAITING_FOR_THREADS

    def _on_alarm(self, event: Alarm) -> None:
        self.alarm_history.append(event)
        key = (event.kind, event.subject)
        if event.state in ("cleared", "ended"):
            self.alarms.pop(key, None)
        else:
            self.alarms[key] = event

    def _on_probes(self, event: Probes) -> None:
        self.probes = event

    def _on_baselines(self, event: Baselines) -> None:
        self._fold_heads(event)

    def _on_learning_rate(self, event: LearningRate) -> None:
        self.learning_rates.read(event)

    def _on_system(self, event: System) -> None:
        self.system.apply(event)

    def _on_run_end(self, event: RunEnd) -> None:
        self.ended = event.t
        self.status = event.status
        self.exit_code = event.exit_code
        self.error = event.error
        self.phase = FINISHED


_HANDLERS = handlers_by_type(RunState)
