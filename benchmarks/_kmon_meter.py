"""Benchmark-only accounting of kmon's CPU inside a training process: every
thread's CPU time by role, and (``install``) kmon's callback hooks, probes and
fold timed from inside.

Imported by ``_mlp_workload.py`` (the script the training-overhead benchmark
times), which snapshots :func:`snapshot` before and after each timed fit:

- **Threads.** Each thread's CPU time comes from ``/proc/self/task/<tid>/schedstat``
  (nanoseconds; ``stat``'s clock ticks where it is missing), mapped to a name
  through :func:`threading.enumerate`'s ``native_id``. Reading it costs nothing
  while training runs: it is read twice per fit.
- **Hooks** (with ``install()`` only: the timing costs the training thread about
  two ``time.thread_time_ns`` calls per hook, about 1.5 µs on a VM, so a benchmark
  runs it in a configuration of its own and does not time that one's wall clock).
  Every hook of :class:`~kmon.engine.training.callback.KmonCallback` and
  :class:`~kmon.engine.alarms.probe_callback.ProbeCallback` is timed in the CPU
  time of the thread that runs it, the probes' calls (``ProbeCallback._run``)
  apart, and the run state's fold (``RunState.apply``): counters named
  ``callback.<hook>``, ``alarms.<hook>``, ``probes`` and ``fold``. The timer's own cost,
  measured at ``install``, is taken off each call.
"""

from __future__ import annotations

import functools
import os
import statistics
import threading
import time

#: Counters of the installed timers: name -> [calls, CPU ns].
_timed: dict[str, list[int]] = {}
#: Wall-clock seconds inside probe calls, and charged for the steps after them.
_probe_wall = {"calls": 0.0, "after": 0.0}
_overhead_ns = 0
#: Every snapshot's counters, in order (with ``KMON_METER_PARTS``: written at exit).
_snapshots: list[dict] = []
_TICK_NS = 1e9 / os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 1e7


def _task_times_ns(tid: str) -> tuple[int, int | None] | None:
    """A thread's CPU time and the time it spent runnable, waiting for a CPU (the
    run queue: other processes on the machine's cores), in ns. The wait is None
    where the kernel keeps no scheduler statistics."""
    try:
        with open(f"/proc/self/task/{tid}/schedstat", encoding="ascii") as handle:
            fields = handle.read().split()
        return int(fields[0]), int(fields[1])
    except (OSError, ValueError, IndexError):
        pass
    try:
        with open(f"/proc/self/task/{tid}/stat", encoding="ascii") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        return int((int(fields[11]) + int(fields[12])) * _TICK_NS), None
    except (OSError, ValueError, IndexError):
        return None


def role_of(name: str | None, training: bool) -> str:
    """The row a thread's CPU time goes to."""
    if training:
        return "training"
    if name is None:
        return "native"  # TensorFlow's own threads (Eigen, inter-op), not kmon's
    if name == "MainThread":
        return "main"  # the live monitor's UI, or the headless loop
    if name.startswith("kmon-capture"):
        return "kmon-capture"
    return name


def threads_cpu(training_tid: int) -> tuple[dict[str, int], dict[str, int]]:
    """CPU nanoseconds used so far, and nanoseconds spent waiting for a CPU, by
    role (see :func:`role_of`); threads that ended are not counted."""
    names = {thread.native_id: thread.name for thread in threading.enumerate()}
    used: dict[str, int] = {}
    waited: dict[str, int] = {}
    try:
        tids = os.listdir("/proc/self/task")
    except OSError:
        return used, waited
    for tid in tids:
        times = _task_times_ns(tid)
        if times is None:
            continue
        role = role_of(names.get(int(tid)), int(tid) == training_tid)
        used[role] = used.get(role, 0) + times[0]
        if times[1] is not None:
            waited[role] = waited.get(role, 0) + times[1]
    return used, waited


def context_switches(tid: int) -> int:
    """How many times the thread has given up its CPU so far, waiting (for the GIL,
    a TensorFlow op, a lock) or preempted; 0 where the kernel does not say."""
    total = 0
    try:
        with open(f"/proc/self/task/{tid}/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                    total += int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return 0
    return total


def snapshot(training_tid: int) -> dict:
    """Everything counted so far: threads' CPU, hooks' CPU, probes' wall time."""
    timed = {name: (calls, ns - calls * _overhead_ns) for name, (calls, ns) in _timed.items()}
    _snapshots.append(timed)
    _frames.append({"snapshot": len(_snapshots), "t": time.monotonic()})
    used, waited = threads_cpu(training_tid)
    return {
        "threads": used,
        "waits": waited,
        "switches": context_switches(training_tid),
        "timed": timed,
        "probes": dict(_probe_wall),
    }


def difference(before: dict, after: dict) -> dict:
    """What a fit used: ``after`` minus ``before``, CPU in ns."""
    threads = {
        role: used - before["threads"].get(role, 0) for role, used in after["threads"].items()
    }
    waits = {role: ns - before["waits"].get(role, 0) for role, ns in after["waits"].items()}
    timed = {}
    for name, (calls, ns) in after["timed"].items():
        calls0, ns0 = before["timed"].get(name, (0, 0))
        timed[name] = [calls - calls0, ns - ns0]
    probes = {key: value - before["probes"][key] for key, value in after["probes"].items()}
    switches = after["switches"] - before["switches"]
    return {"threads": threads, "waits": waits, "switches": switches, "timed": timed, "probes": probes}


def _timer(name: str, function, *, per_thread: bool = False):
    """``function`` with its calls and CPU ns counted under ``name`` (``per_thread``:
    under ``name@<thread>`` for each thread that calls it)."""
    if not per_thread:
        fixed = _timed.setdefault(name, [0, 0])
        return _counted(function, lambda: fixed)
    current = threading.current_thread
    return _counted(function, lambda: _timed.setdefault(f"{name}@{current().name}", [0, 0]))


#: ``threading.get_ident()`` of the thread that began the last fit: the training thread.
_training_ident: int | None = None


def _batch_timer(name: str, function):
    """A batch hook timed as :func:`_timer` times it, under ``name`` on the training
    thread and ``name@pool`` on any other: torch and JAX call batch ends from
    Keras's thread pool, whose CPU is not the training thread's (and counts among
    the process's other threads already)."""
    here, pool = _timed.setdefault(name, [0, 0]), _timed.setdefault(f"{name}@pool", [0, 0])
    ident = threading.get_ident
    return _counted(function, lambda: here if ident() == _training_ident else pool)


def _counted(function, counter_of):
    """``function`` adding its calls and CPU ns to the ``[calls, ns]`` that
    ``counter_of()`` gives at each call (chosen before the clock starts)."""
    clock = time.thread_time_ns

    @functools.wraps(function)
    def timed(*args, **kwargs):
        counter = counter_of()
        start = clock()
        try:
            return function(*args, **kwargs)
        finally:
            counter[1] += clock() - start
            counter[0] += 1

    return timed


def _calibrate() -> int:
    """CPU ns one timed call of an empty function reads: the timer's own cost."""
    probe = _timer("calibration", lambda: None)
    samples = []
    for _ in range(5):
        calls, ns = _timed["calibration"]
        for _ in range(2000):
            probe()
        samples.append((_timed["calibration"][1] - ns) / (_timed["calibration"][0] - calls))
    del _timed["calibration"]
    return int(statistics.median(samples))


def install() -> None:
    """Time kmon's callback hooks, its probes and its fold from inside."""
    global _overhead_ns
    from kmon.engine.alarms.probe_callback import ProbeCallback
    from kmon.engine.training.callback import KmonCallback
    from kmon.engine.view.state import RunState

    hooks = (
        "on_train_begin",
        "on_train_end",
        "on_epoch_begin",
        "on_epoch_end",
        "on_train_batch_begin",
        "on_train_batch_end",
        "on_test_begin",
        "on_test_end",
    )
    for cls, label in ((KmonCallback, "callback"), (ProbeCallback, "alarms")):
        for hook in hooks:
            if hook in vars(cls):
                timer = _batch_timer if "_batch_" in hook else _timer
                setattr(cls, hook, timer(f"{label}.{hook}", vars(cls)[hook]))
    run = ProbeCallback._run

    @functools.wraps(run)
    def probe_run(self, budget, probe, step):
        start = time.perf_counter()
        try:
            return run(self, budget, probe, step)
        finally:
            _probe_wall["calls"] += time.perf_counter() - start

    ProbeCallback._run = _timer("probes", probe_run)
    end = ProbeCallback.on_train_end

    def on_train_end(self, logs=None):
        end(self, logs)
        for budget in (self.predictions, self.gradients):
            if budget is not None:
                _probe_wall["after"] += budget.after

    ProbeCallback.on_train_end = on_train_end
    begin = KmonCallback.on_train_begin

    @functools.wraps(begin)
    def on_train_begin(self, logs=None):
        global _training_ident
        _training_ident = threading.get_ident()
        return begin(self, logs)

    KmonCallback.on_train_begin = on_train_begin
    RunState.apply = _timer("fold", RunState.apply)
    if os.environ.get(PARTS_ENV):
        _install_parts(os.environ[PARTS_ENV])
    _overhead_ns = _calibrate()


#: With this variable naming a file, ``install`` also times the parts of kmon's other
#: threads, each in the CPU time of the thread that runs it, and writes every counter
#: there as JSON when the process exits (see :func:`_install_parts`).
PARTS_ENV = "KMON_METER_PARTS"


def _install_parts(path: str) -> None:
    """Time where kmon's other threads spend their CPU, by part and thread: the
    tapes' recovery (``BatchTape.events``, on whichever sink reaches a tape first;
    ``recovery.tape`` counts the tapes, of up to ``TAPE_BATCHES``),
    the channel's drain (the recovery it does counted in it too), the UI's tick and,
    inside it, the fold (``RunState.apply_all``) and the redraw, Textual's frames
    (a layout pass, the compositor's update and paint), and the writer's taking
    (encoding) and writing. Names end with ``@`` and the thread's name. A part
    nested in another is counted in both. The file gets every :func:`snapshot`'s
    counters (taken before and after each timed fit), in order."""
    import atexit
    import json

    from textual._compositor import Compositor
    from textual.screen import Screen

    from kmon.engine.log.writer import EventLogWriter
    from kmon.engine.run.channel import MonitorChannel
    from kmon.engine.training.batch_tape import BatchTapeDecoder
    from kmon.engine.view.state import RunState
    from kmon.tui.app import MonitorApp

    parts = (
        (BatchTapeDecoder, "recover_through", "recovery"),
        (BatchTapeDecoder, "_recover", "recovery.tape"),
        (MonitorChannel, "drain", "drain"),
        (MonitorApp, "tick", "tick"),
        (RunState, "apply_all", "fold"),
        (MonitorApp, "_redraw", "redraw"),
        (Screen, "_refresh_layout", "frame.layout"),
        (Compositor, "update_widgets", "frame.update"),
        (Screen, "_compositor_refresh", "frame.paint"),
        (EventLogWriter, "_take_pending", "writer.take"),
        (EventLogWriter, "_write_lines", "writer.write"),
    )
    for cls, method, label in parts:
        setattr(cls, method, _thread_timer(label, vars(cls)[method]))
    _count_layout_causes(Screen)
    _count_renders()
    if os.environ.get(FRAMES_ENV):
        _trace_frames()

    def dump() -> None:
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(_snapshots, handle)
        if os.environ.get(FRAMES_ENV):
            with open(os.environ[FRAMES_ENV], "w", encoding="utf-8") as handle:
                json.dump(_frames + [_tick], handle)

    atexit.register(dump)


#: With this variable naming a file (and ``KMON_METER_PARTS`` set), every UI tick
#: that draws is written there too: when, what the redraw showed and what the frame
#: rendered, each in the UI thread's CPU µs (see :func:`_trace_frames`).
FRAMES_ENV = "KMON_METER_FRAMES"
#: The traced ticks, in order, and the snapshots' places among them; the tick
#: being traced (its frame comes after its redraw).
_frames: list[dict] = []
_tick: dict = {}


def _trace_frames() -> None:
    """Record each UI tick's redraw and the frame after it as one entry: the wall
    time, the run's fit, epoch and phase, and CPU µs by part: ``redraw``, what it
    calls (``<method>.<class>``: ``show.RunHeader``, ``_draw.EpochChart``...;
    ``show.panels``), the frame's ``layout``, ``paint`` and each widget's
    ``render.<class>``. A fit's snapshots add ``{"snapshot": n}`` entries,
    so a fit's frames can be told apart as steady (progress line, batch panels) or
    news (a fit's start and end, an epoch's end)."""
    from textual.screen import Screen
    from textual.widget import Widget

    from kmon.tui.app import MonitorApp
    from kmon.tui.widgets.epoch_chart import EpochChart
    from kmon.tui.widgets.explanation import Explanation
    from kmon.tui.widgets.learning_rate_panel import LearningRatePanel
    from kmon.tui.widgets.run_header import RunHeader

    clock = time.thread_time_ns
    current = _tick

    def add(key: str, ns: int) -> None:
        current[key] = current.get(key, 0.0) + ns / 1e3

    def traced(key: str, function):
        @functools.wraps(function)
        def wrapper(*args, **kwargs):
            start = clock()
            try:
                return function(*args, **kwargs)
            finally:
                add(key, clock() - start)

        return wrapper

    redraw = MonitorApp._redraw

    @functools.wraps(redraw)
    def traced_redraw(app):
        state = app.state
        if current:
            _frames.append(dict(current))
        current.clear()
        current.update(
            t=time.monotonic(),
            fit=len(state.fits),
            epoch=state.epoch,
            phase=str(state.phase),
            history=len(state.history),
        )
        start = clock()
        try:
            return redraw(app)
        finally:
            add("redraw", clock() - start)

    MonitorApp._redraw = traced_redraw
    for cls, name in (
        (RunHeader, "show"),
        (EpochChart, "show"),
        (EpochChart, "_draw"),
        (Explanation, "show"),
        (LearningRatePanel, "show_rates"),
    ):
        setattr(cls, name, traced(f"{name}.{cls.__name__}", vars(cls)[name]))
    MonitorApp._show_batch_panels = traced("show.panels", MonitorApp._show_batch_panels)
    Screen._refresh_layout = traced("layout", Screen._refresh_layout)
    Screen._compositor_refresh = traced("paint", Screen._compositor_refresh)
    render_lines = Widget.render_lines

    def render(widget, crop):
        start = clock()
        try:
            return render_lines(widget, crop)
        finally:
            add(f"render.{type(widget).__name__}", clock() - start)

    Widget.render_lines = render


def _count_layout_causes(screen_class) -> None:
    """Count, as ``cause.layout.<widget>`` calls, the widgets that ask the screen for
    a layout pass (a size that may have changed: ``refresh(layout=True)``, a style,
    ``display``), as ``cause.resized.<widget>`` those that ask for another as a layout
    pass resizes them (Textual's own second pass), and as ``cause.scroll.<widget>``
    those that ask for a scroll reflow; ``frame.layout`` times every kind of pass."""
    from textual.widget import Widget

    on_layout, on_scroll = screen_class._on_layout, screen_class._on_update_scroll
    refresh_layout, refresh = screen_class._refresh_layout, Widget.refresh
    in_pass = [False]
    resized: set[int] = set()

    def name(widget) -> str:
        return f"{type(widget).__name__}#{getattr(widget, 'id', None)}"

    def count(key: str) -> None:
        _timed.setdefault(key, [0, 0])[0] += 1

    def _refresh_layout(screen, *args, **kwargs):
        in_pass[0] = True
        try:
            return refresh_layout(screen, *args, **kwargs)
        finally:
            in_pass[0] = False

    def widget_refresh(widget, *regions, **kwargs):
        if kwargs.get("layout") and in_pass[0]:
            resized.add(id(widget))
        return refresh(widget, *regions, **kwargs)

    async def _on_layout(screen, message):
        kind = "resized" if id(message.widget) in resized else "layout"
        resized.discard(id(message.widget))
        count(f"cause.{kind}.{name(message.widget)}")
        await on_layout(screen, message)

    async def _on_update_scroll(screen, message):
        count(f"cause.scroll.{name(message._sender)}")
        await on_scroll(screen, message)

    screen_class._refresh_layout = _refresh_layout
    Widget.refresh = widget_refresh
    screen_class._on_layout = _on_layout
    screen_class._on_update_scroll = _on_update_scroll


def _count_renders() -> None:
    """Time each widget's ``render_lines`` as ``render.<class>``: the compositor calls
    it for every widget that overlaps a frame's changed rows."""
    from textual.widget import Widget

    render_lines = Widget.render_lines

    def timed(widget, crop):
        counter = _timed.setdefault(f"render.{type(widget).__name__}", [0, 0])
        start = time.thread_time_ns()
        try:
            return render_lines(widget, crop)
        finally:
            counter[1] += time.thread_time_ns() - start
            counter[0] += 1

    Widget.render_lines = timed


def _thread_timer(name: str, function):
    """:func:`_timer`, counted apart for each thread that calls it."""
    return _timer(name, function, per_thread=True)


def overhead_ns() -> int:
    """The timer's own cost per call, taken off every count."""
    return _overhead_ns


#: While True, kmon's monitor and event-log threads leave their work waiting
#: (``install_pause``): the drain, the fold and the redraw, the log's serializing
#: and writing. The training thread's hooks run as ever.
paused = False
#: What the paused methods last saw: the run's writer, and the drains made since
#: :func:`caught_up` began.
_seen: dict = {"writer": None, "drains": 0}


def install_pause() -> None:
    """Let :data:`paused` hold back the work of kmon's other threads, to time a
    training thread with them at work against the same thread with them idle, in
    one process (``thread_interference.py``). Their timers still wake them: a
    paused drain returns nothing, a paused redraw and a paused take of the log's
    pending events do nothing; what waited is done once :data:`paused` is False
    again (:func:`caught_up`). Patched on the classes, where each call looks the
    method up."""
    from kmon.engine.log.writer import EventLogWriter
    from kmon.engine.run.session import Session

    drain, take = Session.drain, EventLogWriter._take_pending

    def paused_drain(session):
        if paused:
            return []
        _seen["drains"] += 1
        return drain(session)

    def paused_take(writer):
        _seen["writer"] = writer
        return False if paused else take(writer)

    Session.drain, EventLogWriter._take_pending = paused_drain, paused_take
    try:
        from kmon.tui.app import MonitorApp
    except ImportError:
        return
    redraw = MonitorApp._redraw

    def paused_redraw(app):
        if not paused:
            redraw(app)

    MonitorApp._redraw = paused_redraw


def caught_up(timeout: float) -> bool:
    """Resume kmon's threads and wait until what they left is done: two drains of
    the monitor's channel (the first takes what waited; the second begins once
    the first's fold and redraw are done) and the log's pending events taken and
    written."""
    global paused
    paused = False
    _seen["drains"] = 0
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        writer = _seen["writer"]
        idle = writer is None or (not writer._pending and not writer._lines)
        if idle and _seen["drains"] >= 2:
            return True
        time.sleep(0.02)
    return False
