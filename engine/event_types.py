"""The event log's types: one dataclass per ``type`` a line can have, with the
fields the schema documents (docs/event-log.md) and the line each event writes.

Every line of a kmon event log is one event: ``{"v": 1, "type": ..., "t": ..., ...}``.
The schema is a public interface; add fields freely, but never rename or remove one
without bumping ``SCHEMA_VERSION``. Code imports these from :mod:`kmon.engine.events`,
which also reads a line back into its event; how a line is checked is
:mod:`kmon.engine.event_schema`; how its JSON text is written,
:mod:`kmon.engine.json_text`.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

from kmon.engine.json_text import ENCODER, BatchLine, encode_batch_line, finite_floats

SCHEMA_VERSION = 1


@dataclass(slots=True)
class Event:
    """Base of all events. ``t`` is wall-clock time in Unix seconds."""

    type: ClassVar[str] = "event"
    t: float = field(default_factory=time.time, kw_only=True)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"v": SCHEMA_VERSION, "type": self.type, "t": self.t}
        for name in _field_names(type(self)):
            if name != "t":
                data[name] = getattr(self, name)
        return data

    def to_json(self) -> str:
        """The event as one line of the log (NaN and infinities as bare tokens)."""
        return ENCODER.encode(self.to_dict())


@functools.cache
def _field_names(cls: type[Event]) -> tuple[str, ...]:
    """An event class's field names, in order (``dataclasses.fields`` is slow, and
    the writer and the reader call this for every event)."""
    return tuple(f.name for f in fields(cls))


@dataclass(slots=True)
class RunStart(Event):
    """The run began: a user script (``script``) or a bundled scenario (``scenario``)."""

    type: ClassVar[str] = "run_start"
    script: str | None = None
    argv: list[str] = field(default_factory=list)
    scenario: str | None = None
    variant: str | None = None
    pid: int | None = None
    cwd: str | None = None
    task: str | None = None
    """This process's task in a ``tf.distribute`` cluster (``TF_CONFIG``), e.g.
    ``"worker1"``; None outside a cluster."""
    start_time: int | None = None
    """When the process ``pid`` started, in clock ticks after boot (field 22 of
    ``/proc/PID/stat``); with ``boot_id`` it tells this run's process from a later
    one that got the same pid. None where there is no ``/proc``."""
    boot_id: str | None = None
    """The machine's boot (``/proc/sys/kernel/random/boot_id``) the run started in."""
    module: str | None = None
    """The module ``kmon train -m`` ran (``script`` is then its file); None otherwise."""


@dataclass(slots=True)
class ScriptStart(Event):
    """The script (or scenario) itself starts running: kmon has imported Keras.

    Between ``run_start`` and this event kmon imports TensorFlow; after it the
    script's own code runs, with or without ``fit()`` calls."""

    type: ClassVar[str] = "script_start"


@dataclass(slots=True)
class FitStart(Event):
    """A ``fit()`` call began. ``steps`` is per epoch, or None when unknown."""

    type: ClassVar[str] = "fit_start"
    fit: int = 0
    epochs: int = 1
    steps: int | None = None
    outputs: list[str] = field(default_factory=list)
    model: str | None = None
    initial_epoch: int = 0
    batch_size: int | None = None
    samples: int | None = None
    steps_per_execution: int = 1
    train_mode_layers: list[str] = field(default_factory=list)
    weighting: str | None = None
    heads: dict[str, dict[str, Any]] | None = None
    """Per output: its loss, loss weight, metrics and loss log key (see
    :mod:`kmon.engine.training.heads`); None when not known before the first step."""
    extra_losses: list[str] = field(default_factory=list)
    """What else can add to the total loss: regularizers, an overridden
    ``compute_loss`` or ``train_step``."""
    model_index: int | None = None
    """0-based number of the model object this fit trains, in the order the run
    first trained each: fits with the same number train the same model (a loop of
    ``fit()`` calls continues its training), a new number is another model, whose
    losses, alarms and charts are not the previous one's. None in older logs."""
    early_stopping: list[str] | None = None
    """The fit's callbacks that can end it before its last epoch by setting
    ``model.stop_training`` (Keras's ``EarlyStopping`` and ``TerminateOnNaN``,
    subclasses included), by class name: with any, the fit's ETA is an upper
    bound. Empty when none; None in older logs."""


@dataclass(slots=True)
class EpochStart(Event):
    type: ClassVar[str] = "epoch_start"
    fit: int = 0
    epoch: int = 0


@dataclass(slots=True)
class Batch(Event):
    """One ``on_train_batch_end``. ``logs`` are exactly what Keras passed: running
    means over the epoch so far, not the loss of this batch alone. ``values`` are
    the batch's own values recovered from them (None where not recoverable), over
    ``span`` steps when Keras reports every ``steps_per_execution`` steps."""

    type: ClassVar[str] = "batch"
    fit: int = 0
    epoch: int = 0
    step: int = 0
    size: int | None = None
    logs: dict[str, float] = field(default_factory=dict)
    values: dict[str, float | None] | None = None
    span: int = 1

    def to_json(self) -> str:
        # The writer serializes about a thousand of these a second on a fast run,
        # holding the GIL the training thread needs: msgspec writes the line when it
        # can write it as the generic encoder would read (finite floats, plain ints).
        logs, values, t = self.logs, self.values, self.t
        if (
            type(t) is float
            and t - t == 0.0
            and type(self.fit) is type(self.epoch) is type(self.step) is type(self.span) is int
            and (self.size is None or type(self.size) is int)
            and type(logs) is dict
            and finite_floats(logs)
            and (values is None or (type(values) is dict and finite_floats(values)))
        ):
            line = BatchLine(
                SCHEMA_VERSION, "batch", t, self.fit, self.epoch, self.step, self.size,
                logs, values, self.span,
            )  # fmt: skip
            return encode_batch_line(line)
        return Event.to_json(self)


#: The kinds a ``value_kinds`` event gives a key (None: not recoverable).
MEAN = "mean"
"""A running mean weighted by samples: per-batch values are exact."""
ROOT_MEAN_SQUARE = "rms"
"""The square root of such a running mean (RMSE): recovered through the squares."""
STEP_MEAN = "step_mean"
"""A running mean in which every step counts once, whatever its batch size."""


@dataclass(slots=True)
class ValueKinds(Event):
    """How each training log key of a fit is recovered per batch: ``"mean"``
    (``MEAN``), ``"step_mean"`` (``STEP_MEAN``), ``"rms"`` (``ROOT_MEAN_SQUARE``), or
    ``"not recoverable: <why>"``. Sent once per fit, just before its first batch
    event (Keras builds compiled metrics on the first step)."""

    type: ClassVar[str] = "value_kinds"
    fit: int = 0
    kinds: dict[str, str] = field(default_factory=dict)
    heads: dict[str, dict[str, Any]] | None = None
    """The head map read from the model once Keras built its compiled loss and
    metrics; set only when it differs from ``fit_start``'s (which it replaces)."""
    extra_losses: list[str] | None = None
    """``fit_start``'s ``extra_losses`` with the layers that called ``add_loss()``
    in the first step (which it replaces); None when there are none."""


@dataclass(slots=True)
class ValEnd(Event):
    """Validation finished inside ``fit()``; ``logs`` are unprefixed (``loss``, not ``val_loss``)."""

    type: ClassVar[str] = "val_end"
    fit: int = 0
    epoch: int = 0
    logs: dict[str, float] = field(default_factory=dict)


@dataclass(slots=True)
class TrainEval(Event):
    """The model evaluated on its training data at the end of an epoch (final
    weights, inference mode: no dropout), when the run asked for it."""

    type: ClassVar[str] = "train_eval"
    fit: int = 0
    epoch: int = 0
    logs: dict[str, float] = field(default_factory=dict)


@dataclass(slots=True)
class EpochEnd(Event):
    """``logs`` are exactly what History records for this epoch (``val_`` keys included)."""

    type: ClassVar[str] = "epoch_end"
    fit: int = 0
    epoch: int = 0
    logs: dict[str, float] = field(default_factory=dict)
    learning_rate: float | None = None  # the optimizer's, as the epoch ends


@dataclass(slots=True)
class FitEnd(Event):
    type: ClassVar[str] = "fit_end"
    fit: int = 0
    stopped_early: bool = False


@dataclass(slots=True)
class Log(Event):
    """A line the script wrote (Python ``print`` or a raw write to fd 1/2)."""

    type: ClassVar[str] = "log"
    stream: str = "stdout"
    text: str = ""


@dataclass(slots=True)
class Notice(Event):
    """Something kmon itself tells the user (not the script's output)."""

    type: ClassVar[str] = "notice"
    level: str = "info"
    text: str = ""
    topic: str | None = None
    """What it is about, for notices a monitor shows in a place of their own:
    ``LOG_TOPIC`` when the event log itself could not be written (incomplete),
    ``NO_FIT_TOPIC`` when the script has run a while without calling ``fit()``,
    ``THREADS_TOPIC`` when kmon waits for the threads the script left running."""


#: The topic of notices about the event log itself.
LOG_TOPIC = "event_log"
#: The topic of the notice that the script has run a while with no ``fit()`` call.
NO_FIT_TOPIC = "no_fit"
#: The topic of the notices that the script's code has returned and kmon waits for
#: the threads it left running, and that a stop gave them up.
THREADS_TOPIC = "script_threads"
#: The topic of notices about ``--notify-cmd`` (a command that failed or hung).
NOTIFY_TOPIC = "notify"


@dataclass(slots=True)
class Alarm(Event):
    """A training alarm was raised, cleared, or ended (``state``; see
    :mod:`kmon.engine.alarms.kinds`): "ended" when a later fit trains another model.

    ``kind`` names the problem (``prediction_variance``, ``vanishing_gradients``,
    ``exploding_gradients``, ``unscaled_data``, ``nonfinite_data``, ``nan_loss``,
    ``dead_units``, ``class_collapse``, ``overfitting``, ``unstable_training``,
    ``no_learning``; ``not_learning_yet`` has severity ``"info"``: a notice, never a
    warning); ``subject`` narrows it (the output head of a ``prediction_variance``,
    ``not_learning_yet`` or ``class_collapse`` alarm, or of an ``overfitting`` alarm
    on that head's own validation loss; the layer of a ``dead_units`` one),
    ``evidence`` holds the numbers it was decided on. Alarms decided at an epoch's
    end (``overfitting``, ``unstable_training``) have no ``step``."""

    type: ClassVar[str] = "alarm"
    kind: str = ""
    state: str = "raised"
    severity: str = "warning"
    message: str = ""
    evidence: dict[str, Any] = field(default_factory=dict)
    fit: int = 0
    epoch: int | None = None
    step: int | None = None
    subject: str | None = None


@dataclass(slots=True)
class Probes(Event):
    """What kmon checks during one ``fit()`` (see :mod:`kmon.engine.alarms.probe_callback`):
    sent as the fit starts, and again when that changes (a probe turned off). All
    off when the script turned the checks off (``set_probe_config(enabled=False)``)."""

    type: ClassVar[str] = "probes"
    fit: int = 0
    data: bool = False
    """The fit-start checks of the data ran (scale, feature ranges, NaN/Inf)."""
    loss: bool = False
    """The training loss is checked after every batch (NaN, spikes), and the
    losses at every epoch's end (overfitting, a rising loss)."""
    stop_on_nan: bool = False
    """A NaN or Inf loss stops training (``--stop-on-nan``)."""
    predictions: bool = False
    """Prediction probes run: the spread of the predictions on the probe batch."""
    gradients: bool = False
    """Gradient probes run: gradient norms on the probe batch."""
    probe_samples: int | None = None
    """Samples in the probe batch; None without one."""
    budget: float | None = None
    """Share of training time the prediction probes may take; None when they run
    every ``every`` steps instead."""
    gradient_budget: float | None = None
    """Likewise for the gradient probes (``gradient_every``)."""
    every: int | None = None
    gradient_every: int | None = None


@dataclass(slots=True)
class Baselines(Event):
    """Each head's constant-predictor baseline for one ``fit()`` (the loss of the best
    prediction that ignores the inputs: :mod:`kmon.engine.alarms.baselines`), sent as
    its data checks run. ``by_head``: head -> ``{"loss", "value" (None: unknown),
    "method" (how, or why unknown), "rows", "weighted"}``; ``total``: the weighted
    sum as Keras adds heads, when every head with a loss is known, else None."""

    type: ClassVar[str] = "baselines"
    fit: int = 0
    by_head: dict[str, dict[str, Any]] = field(default_factory=dict)
    total: float | None = None
    source: str | None = None
    """Where the rows came from: ``"training arrays"``, a dataset's first batches."""


@dataclass(slots=True)
class LearningRate(Event):
    """The optimizer's learning rate, read every few seconds, sent when it changed."""

    type: ClassVar[str] = "learning_rate"
    fit: int = 0
    value: float = 0.0
    epoch: int | None = None
    step: int | None = None


@dataclass(slots=True)
class System(Event):
    """One sample of the process and its machine (:mod:`kmon.engine.system`; the
    fields are documented in docs/event-log.md); None: could not be read."""

    type: ClassVar[str] = "system"
    interval: float | None = None
    process_cpu: float | None = None
    rss: int | None = None
    host_cpu: float | None = None
    cpus: int | None = None
    memory_used: int | None = None
    memory_total: int | None = None
    load: list[float] | None = None
    gpus: list[dict[str, Any]] = field(default_factory=list)
    gpu_note: str | None = None
    tf_memory: dict[str, dict[str, int]] | None = None


@dataclass(slots=True)
class RunEnd(Event):
    """``status`` is "ok", "failed" or "stopped"; ``error`` is set when failed.

    Sources make up two more for the display, never written to a log: "stale" (a
    followed run's process is gone) and "unfinished" (a replayed log ends without
    ``run_end``)."""

    type: ClassVar[str] = "run_end"
    status: str = "ok"
    exit_code: int = 0
    error: dict[str, str] | None = None
    fits: int = 0
