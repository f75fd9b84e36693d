"""The threads a script leaves running when its code returns, waited for as Python
waits for them before a process exits.

Python ends a process only once every thread that is no daemon has ended
(``threading._shutdown``, before the atexit functions run), and scripts rely on it:
one hands its last save to a thread and returns, or starts its training in a thread
and lets the main thread end. Under kmon the script's code runs on kmon's training
thread, and once it returns kmon would end the run and the process. So the runner
waits for the script's threads first (:class:`ScriptThreads`), and ``run_end``
comes when the script's process would have ended.

A thread is a daemon only where the script says so: a thread inherits ``daemon``
from the one that starts it, and the training thread is no daemon, as a main
thread is not (see :mod:`~kmon.engine.run.bare_thread`).

The wait is Python's, with three of its details:

- an idle ``ThreadPoolExecutor``'s workers, and a ``ProcessPoolExecutor``'s
  manager thread, wait for work for ever; Python's exit shuts every executor down
  first (the work queued still runs), and so does the wait, for the script's
  executors;
- after the threads, Python's exit (multiprocessing's atexit function) waits for
  the child processes that are no daemons: the wait takes the script's in too, so
  their output is the run's and ``run_end`` comes after them;
- Ctrl+C during Python's wait gives the threads up; a stop does here
  (:data:`~kmon.engine.stop.CUT_THREADS`), and the process then ends without
  waiting for them (:func:`exit_leaving_threads`). Ctrl+C in a terminal also
  reaches the script's child processes; so kmon ends those it gave up, and
  nothing of the run is left running after it.
"""

from __future__ import annotations

import atexit
import concurrent.futures as futures
import concurrent.futures.thread as executor_threads
import itertools
import os
import signal
import sys
import threading
import time

#: How long a wait polls between looks at the stop request.
POLL_SECONDS = 0.1
#: How long a given-up child process has to end after each signal kmon sends it.
CHILD_GRACE_SECONDS = 1.0
#: Top-level packages whose threads are never the script's, wherever they start.
_OWN_PACKAGES = frozenset({"kmon", "textual"})
#: The watches whose threads were not all waited for (:func:`left_running`).
_watches: list[ScriptThreads] = []


class ScriptThreads:
    """The script's threads: those no daemon, alive and started since this was made.

    Make it on the training thread just before the script's code runs. kmon's own
    threads are daemons, and Textual's input thread (no daemon) is told apart by
    its code's package, for one started while the script runs.
    """

    def __init__(self) -> None:
        self._before = {*threading.enumerate(), *_children()}
        self._waiter = threading.current_thread()
        _watches.append(self)

    def running(self) -> list:
        """The script's threads that have not ended, oldest first, then its child
        processes (``multiprocessing``) that are no daemons."""
        threads = [
            thread
            for thread in threading.enumerate()
            if thread not in self._before and thread is not self._waiter and _scripts(thread)
        ]
        children = [
            child for child in _children() if child not in self._before and not child.daemon
        ]
        return threads + children

    def wait(self, stopped: threading.Event, seconds: float | None = None) -> list:
        """Wait until the script's threads have all ended, ``stopped`` is set or
        ``seconds`` have passed (None: no limit); return the ones still running then
        (none when they all ended). A thread started by one being waited for is
        waited for too, as Python does."""
        deadline = None if seconds is None else time.monotonic() + seconds
        seen: set = set()
        while True:
            running = self.running()
            left = POLL_SECONDS if deadline is None else deadline - time.monotonic()
            if not running or stopped.is_set() or left <= 0:
                return running
            _shut_down_executors([each for each in running if each not in seen])
            seen.update(running)
            running[0].join(min(left, POLL_SECONDS))

    def forget(self) -> None:
        """Stop counting these threads in :func:`left_running` (they were waited for)."""
        if self in _watches:
            _watches.remove(self)


def _scripts(thread: threading.Thread) -> bool:
    if thread.daemon or thread is threading.main_thread():
        return False
    if isinstance(thread, threading._DummyThread):  # noqa: SLF001 - cannot be joined
        return False
    code = getattr(thread, "_target", None) or type(thread).run
    package = (getattr(code, "__module__", None) or "").partition(".")[0]
    return package not in _OWN_PACKAGES


def _children() -> list:
    """This process's ``multiprocessing`` children alive now (none unless the
    script imported it: kmon's own never do)."""
    multiprocessing = sys.modules.get("multiprocessing")
    return list(multiprocessing.active_children()) if multiprocessing is not None else []


def _shut_down_executors(threads: list) -> None:
    """Shut down the executors whose threads are among ``threads`` (a thread pool's
    workers, a process pool's manager), as Python's exit does (each module's
    ``_python_exit``): their queued work still runs, then the threads end. Their
    private fields are read with care: where they are not what this expects, the
    threads are waited for as any thread."""
    for thread in threads:
        executor = None
        if getattr(thread, "_target", None) is getattr(executor_threads, "_worker", None):
            arguments = getattr(thread, "_args", ())
            reference = arguments[0] if arguments else None
            executor = reference() if callable(reference) else None
        elif type(thread).__name__ == "_ExecutorManagerThread":
            reference = getattr(thread, "executor_reference", None)
            executor = reference() if callable(reference) else None
        if isinstance(executor, futures.Executor):
            executor.shutdown(wait=False)


def number_threads_afresh() -> None:
    """Number the threads started from now on from 1 ("Thread-1"), as in a fresh
    interpreter: kmon's training thread and timer took the first numbers, and a
    script's names show in its tracebacks ("Exception in thread Thread-1") and
    logs. Threading's counter is private: where it is not there, nothing changes."""
    if callable(getattr(threading, "_counter", None)):
        threading._counter = itertools.count(1).__next__  # noqa: SLF001


def names(threads: list) -> str:
    """``threads`` for the user: their names, the first few."""
    shown = ", ".join(thread.name for thread in threads[:4])
    more = len(threads) - 4
    return shown + (f" and {more} more" if more > 0 else "")


def left_running() -> list:
    """The scripts' threads still running: those a stop gave up on, or those of a
    run kmon gave up on (a second Ctrl+C)."""
    return [thread for watch in list(_watches) for thread in watch.running()]


def exit_leaving_threads(code: int) -> None:
    """End the process with ``code`` without waiting for the scripts' threads, if any
    are left running: Python would wait for them at exit (they are no daemons),
    after the user gave them up. Child processes given up are ended
    (:func:`_end_children`), or multiprocessing's atexit function would wait for
    them. What an exit does first is done: the standard streams are flushed and the
    atexit functions run. Returns where none are left."""
    left = left_running()
    if not left:
        return
    _end_children([each for each in left if not isinstance(each, threading.Thread)])
    atexit._run_exitfuncs()  # noqa: SLF001 - what exiting runs, without the wait
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (AttributeError, OSError, ValueError):
            pass
    os._exit(code)


def _end_children(children: list) -> None:
    """End the script's child processes a stop gave up: SIGINT first, as Ctrl+C in
    the terminal gives the whole process group under plain python (the live
    monitor's ``q`` reaches no one else), then SIGTERM, then SIGKILL, a second
    apart, so that nothing of the run is left running after kmon."""
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
        alive = [child for child in children if child.is_alive()]
        for child in alive:
            try:
                os.kill(child.pid, signum)
            except (OSError, TypeError):
                pass  # ended meanwhile, or never started
        deadline = time.monotonic() + CHILD_GRACE_SECONDS
        for child in alive:
            child.join(max(0.0, deadline - time.monotonic()))
