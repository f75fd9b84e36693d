"""Runs a function on the process's main thread, asked from any other thread.

Some calls only work on the main thread (``signal.signal``), but kmon's main thread
belongs to the monitor or the headless loop, and the user's script runs elsewhere.
CPython's pending calls (``Py_AddPendingCall``) run on the main thread at its next
bytecode, wherever it is: the headless loop (which wakes every 0.1 s) and Textual's
event loop (10 Hz) get there within a tenth of a second, and neither has to pump a
queue. A main thread blocked in one long C call (a ``join`` without a timeout) runs
the call when that returns.
"""

from __future__ import annotations

import ctypes
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

_PendingCall = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p)


class MainThreadCallTimeout(Exception):
    """The main thread did not get to the call in time; it still runs later."""


class _Call:
    def __init__(self, function: Callable[[], Any]) -> None:
        self.function = function
        self.done = threading.Event()
        self.result: Any = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.result = self.function()
        except BaseException as exc:  # noqa: BLE001 - handed back to the caller
            self.error = exc
        finally:
            self.done.set()


_queue: deque[_Call] = deque()


def _run_queued(_arg) -> int:
    """Runs on the main thread (from a pending call or :func:`pump`)."""
    while True:
        try:
            call = _queue.popleft()
        except IndexError:
            return 0
        call.run()


# One callback object for the process's lifetime: CPython may call it after any
# caller is gone, so it must never be freed.
_PENDING_CALLBACK = _PendingCall(_run_queued)
_add_pending_call = ctypes.pythonapi.Py_AddPendingCall
_add_pending_call.argtypes = [_PendingCall, ctypes.c_void_p]
_add_pending_call.restype = ctypes.c_int


def pump() -> None:
    """Run the queued calls now. Only on the main thread; cheap when none is queued."""
    if threading.current_thread() is threading.main_thread():
        _run_queued(None)


def call_on_main_thread(function: Callable[[], Any], timeout: float = 2.0) -> Any:
    """Run ``function()`` on the main thread and return its result (or raise what it
    raised). On the main thread it runs at once.

    Raises:
        MainThreadCallTimeout: the main thread did not run it within ``timeout``
            seconds; it stays queued and runs when the main thread gets to it.
    """
    if threading.current_thread() is threading.main_thread():
        return function()
    call = _Call(function)
    _queue.append(call)
    _schedule()
    if not call.done.wait(timeout):
        raise MainThreadCallTimeout(f"the main thread did not run {function!r} in {timeout}s")
    if call.error is not None:
        raise call.error
    return call.result


def _schedule() -> None:
    # CPython keeps at most 32 pending calls; a full list drains within a tick, and
    # one that is already scheduled runs everything queued anyway.
    for _ in range(50):
        if _add_pending_call(_PENDING_CALLBACK, None) == 0:
            return
        time.sleep(0.002)
