"""A thread whose Python stack starts at its target: the one the script runs on.

A :class:`threading.Thread` runs its target under three frames of its own
(``_bootstrap``, ``_bootstrap_inner``, ``run``), ``_bootstrap_inner`` some 500
bytes into its code. Those frames stay under every line of the script, and
TensorFlow captures the whole Python stack at every eager op it runs from Python (a
Keras fit runs two a step, an eager custom loop one an op), reading each frame's
line by walking its code's line table from the start to where the frame stands:
they cost such an op about 0.5 µs, 7% of a small op (``benchmarks/stack_capture.py``).

So the script's thread is started with :func:`_thread.start_new_thread`. What a
``threading.Thread`` gives its code, it gets here:

- a name: threading knows it as a thread it did not start, and
  ``threading.current_thread()`` gives a "dummy" thread, named here and listed by
  ``threading.enumerate()`` while it runs;
- no daemon, as a main thread is not: the threads its code starts inherit that, so
  they are daemons only where the script says so, and the runner waits for the
  others before the run ends, as Python waits before a process exits
  (:mod:`~kmon.engine.run.script_threads`). A dummy is a daemon by default;
  Python waits for none at exit, whatever it says;
- the trace and profile functions of :func:`threading.settrace` and
  :func:`threading.setprofile` (coverage, profilers);
- a clean fork: while it forks, and once its target returns, the dummy is out of
  threading's table (Python before 3.13 keeps a dummy there for good, and makes it
  a forked child's main thread, which then cannot shut down).

Nothing joins it: its owner waits on an event the target sets, as
:class:`~kmon.engine.run.runner.TrainingRun` does.
"""

from __future__ import annotations

import _thread
import os
import sys
import threading
from collections.abc import Callable

#: The threading objects of the bare threads running now, by ident.
_running: dict[int, threading.Thread] = {}


def start_bare_thread(target: Callable[[], object], name: str) -> None:
    """Run ``target()`` in a new thread named ``name``, its stack starting there.
    What ``target`` raises is Python's "unhandled exception in thread" report: a
    target catches what it means to handle."""
    _thread.start_new_thread(_bare, (target, name))


def _bare(target: Callable[[], object], name: str) -> None:
    # The script's frames sit on this one: it calls the target early (see the
    # module docstring).
    thread = _started(name)
    try:
        target()
    finally:
        _running.pop(thread.ident, None)  # type: ignore[arg-type]
        _forget(thread)


def _started(name: str) -> threading.Thread:
    """This thread named, known here, and with threading's trace and profile
    functions, as ``threading.Thread`` starts its threads (for the tools that watch
    every thread: coverage, profilers)."""
    thread = threading.current_thread()
    thread.name = name
    if hasattr(thread, "_daemonic"):
        thread._daemonic = False  # see the module docstring: what its threads inherit
    _running[threading.get_ident()] = thread
    trace, profile = threading.gettrace(), threading.getprofile()
    if trace is not None:
        sys.settrace(trace)
    if profile is not None:
        sys.setprofile(profile)
    return thread


def _table() -> tuple[dict, object] | None:
    """threading's private table of live threads and its lock; None where gone."""
    active, lock = (
        getattr(threading, "_active", None),
        getattr(threading, "_active_limbo_lock", None),
    )
    return (active, lock) if isinstance(active, dict) and lock is not None else None


def _forget(thread: threading.Thread) -> None:
    """Take ``thread`` out of threading's table of live threads, where a dummy
    thread stays after it ends on Python before 3.13: ``threading.enumerate()``
    would list it, and ``current_thread()`` of a later thread that gets its ident
    would be it."""
    table = _table()
    if table is not None:
        active, lock = table
        with lock:  # type: ignore[attr-defined]
            if active.get(thread.ident) is thread:
                del active[thread.ident]


def _before_fork() -> None:
    """A fork from a bare thread (a script's ``multiprocessing.Process``, fork being
    Linux's default before Python 3.14): threading's table must not hold its dummy
    thread then. Python before 3.13 makes a dummy in that table the child's main
    thread, which has no lock for ``threading._shutdown`` to release, so every
    such child exited with code 1; a forking thread threading does not know gets
    a proper main thread in the child."""
    thread = _running.get(threading.get_ident())
    if thread is not None:
        _forget(thread)


def _after_fork_in_parent() -> None:
    thread, table = _running.get(threading.get_ident()), _table()
    if thread is not None and table is not None:
        active, lock = table
        with lock:  # type: ignore[attr-defined]
            active[threading.get_ident()] = thread


if hasattr(os, "register_at_fork"):
    os.register_at_fork(
        before=_before_fork, after_in_parent=_after_fork_in_parent, after_in_child=_running.clear
    )
