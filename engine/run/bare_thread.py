"""A thread whose Python stack starts at its target: the one the script runs on.

A :class:`threading.Thread` runs its target under three frames of its own
(``_bootstrap``, ``_bootstrap_inner``, ``run``), ``_bootstrap_inner`` some 500
bytes into its code. Those frames stay under every line of the script, and
TensorFlow captures the whole Python stack at every eager op it runs from Python (a
Keras fit runs two a step, an eager custom loop one an op), reading each frame's
line by walking its code's line table from the start to where the frame stands:
they cost such an op about 0.5 µs, 7% of a small op (``benchmarks/stack_capture.py``).

So the script's thread is started with :func:`_thread.start_new_thread`. threading
knows it as any thread it did not start: ``threading.current_thread()`` gives a
daemon "dummy" thread, named here, listed by ``threading.enumerate()`` while it
runs and taken out of threading's table when the target returns (Python before
3.13 keeps a dummy thread there for good). Like a ``threading.Thread``, it starts
with the trace and profile functions set by :func:`threading.settrace` and
:func:`threading.setprofile` (coverage, profilers). Nothing joins it: its owner waits on an
event the target sets, as :class:`~kmon.engine.run.runner.TrainingRun` does.
"""

from __future__ import annotations

import _thread
import sys
import threading
from collections.abc import Callable


def start_bare_thread(target: Callable[[], object], name: str) -> None:
    """Run ``target()`` in a new thread named ``name``, its stack starting there.
    What ``target`` raises is Python's "unhandled exception in thread" report: a
    target catches what it means to handle."""
    _thread.start_new_thread(_bare, (target, name))


def _bare(target: Callable[[], object], name: str) -> None:
    thread = threading.current_thread()
    thread.name = name
    # What threading.Thread does for the tools that trace or profile every thread
    # (coverage, profilers) through threading.settrace and threading.setprofile.
    trace, profile = threading.gettrace(), threading.getprofile()
    if trace is not None:
        sys.settrace(trace)
    if profile is not None:
        sys.setprofile(profile)
    try:
        target()
    finally:
        _forget(thread)


def _forget(thread: threading.Thread) -> None:
    """Take ``thread`` out of threading's table of live threads, where a dummy
    thread stays after it ends on Python before 3.13: ``threading.enumerate()``
    would list it, and ``current_thread()`` of a later thread that gets its ident
    would be it. Uses threading's private table; where that is gone, does nothing."""
    active, lock = getattr(threading, "_active", None), getattr(threading, "_active_limbo_lock", None)
    if not isinstance(active, dict) or lock is None:
        return
    with lock:
        if active.get(thread.ident) is thread:
            del active[thread.ident]
