"""Lets a user's script install signal handlers from kmon's training thread.

Python only lets the main thread call ``signal.signal``, and kmon runs the script on
a background thread (the monitor, or the headless loop, owns the main thread), so a
script that installs a SIGTERM handler to save a checkpoint on preemption would fail
with ``ValueError: signal only works in main thread``. While :class:`ScriptSignals`
is active, ``signal.signal`` and ``signal.getsignal`` called from the script's
thread are forwarded:

- the main thread installs a kmon trampoline for that signal, and the trampoline
  calls the script's handler with the script thread's current frame;
- an exception the handler raises (``sys.exit(3)``, ``KeyboardInterrupt``) is raised
  in the script's thread, at its next bytecode, as it would be under plain python.
  That bytecode may be a garbage-collector callback's or a ``__del__``'s (JAX
  registers one), where Python prints the exception as ignored and goes on: kmon's
  ``sys.unraisablehook`` sees it there and raises it again, at the next bytecode;
- ``signal.getsignal`` returns what the script installed (before that, what was
  there: kmon's own handler for SIGTERM and SIGHUP);
- ``SIG_IGN`` ignores the signal. ``SIG_DFL`` hands it back to what kmon had there:
  for SIGTERM that is kmon's graceful stop, where plain python would die at once
  and leave the run without its end in the log. For signals kmon does not handle
  it is the real default, as under plain python;
- on SIGHUP kmon's own handler (which silences the lost terminal) runs first, then
  the script's: the script may ignore a hang-up, the monitor cannot.

Calls from the main thread, or from other threads, go straight to :mod:`signal`.
When the script ends, the signals it took are given back to what was there.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time
from collections.abc import Callable

from kmon.engine.run.main_thread import MainThreadCallTimeout, call_on_main_thread

#: How long the script's ``signal.signal`` waits for the main thread to install.
INSTALL_SECONDS = 2.0
#: Signals on which kmon's own handler runs before the script's.
KMON_FIRST = frozenset({signal.SIGHUP})

_real_signal = signal.signal
_real_getsignal = signal.getsignal
#: The script thread's ident -> its forwarding, while a script runs.
_active: dict[int, ScriptSignals] = {}
_patch_lock = threading.Lock()
#: The unraisable hook that was there before the first forwarding began.
_outer_unraisablehook = sys.unraisablehook


class ScriptSignals:
    """Forwards the script thread's signal handlers to the main thread while active.

    Enter and exit it on the thread that runs the script.
    """

    def __init__(self) -> None:
        self.script_ident: int | None = None
        self._handlers: dict[int, object] = {}
        """What the script installed, as it gave it (what getsignal returns)."""
        self._kmon_handlers: dict[int, object] = {}
        """What the main thread had for each signal before the script took it."""
        self._installed: dict[int, object] = {}
        """What the main thread installed for the script, per signal."""
        self._trampoline_handler = self._trampoline
        self._accepting = False
        self._delivery_lock = threading.RLock()
        self._in_flight: BaseException | None = None
        """The exception last set for the script thread, until that thread ends."""
        self.in_unraisable_hook = False
        """The script's thread is in the unraisable hook, resending an exception."""

    def __enter__(self) -> ScriptSignals:
        self.script_ident = threading.get_ident()
        self._accepting = True
        with _patch_lock:
            if not _active:
                global _outer_unraisablehook
                _outer_unraisablehook = sys.unraisablehook
                sys.unraisablehook = _redeliver_swallowed
            _active[self.script_ident] = self
            signal.signal, signal.getsignal = _forwarded_signal, _forwarded_getsignal
        return self

    def __exit__(self, *exc_info) -> None:
        late = self._stop_accepting()
        with _patch_lock:
            _active.pop(self.script_ident, None)
            if not _active:
                signal.signal, signal.getsignal = _real_signal, _real_getsignal
                if sys.unraisablehook is _redeliver_swallowed:
                    sys.unraisablehook = _outer_unraisablehook
        if self._installed:
            try:
                call_on_main_thread(self._give_back, timeout=1.0)
            except MainThreadCallTimeout:
                pass  # it runs when the main thread gets to it
        if late is not None and exc_info[1] is None:
            raise late  # the script's handler raised it while the script was ending

    def _stop_accepting(self) -> BaseException | None:
        """Stop delivering exceptions to the script thread; returns one that was
        delivered just before (it belongs to the script: re-raised by the caller)."""
        late = None
        while True:
            try:
                with self._delivery_lock:
                    self._accepting = False
                    _withdraw_pending(self.script_ident)  # one set, not yet raised
                return late
            except BaseException as exc:  # noqa: BLE001 - raised here by the handler
                late = exc

    def signal(self, signalnum: int, handler) -> object:
        """``signal.signal`` on the script's behalf: returns the previous handler."""
        if not callable(handler) and handler not in (signal.SIG_IGN, signal.SIG_DFL):
            raise TypeError(
                "signal handler must be signal.SIG_IGN, signal.SIG_DFL, or a callable object"
            )
        signalnum = int(signalnum)
        previous = self.getsignal(signalnum)  # ValueError for a signal out of range
        took_it_before = signalnum in self._handlers
        self._handlers[signalnum] = handler
        try:
            call_on_main_thread(lambda: self._install(signalnum, handler), INSTALL_SECONDS)
        except MainThreadCallTimeout:
            pass  # installed when the main thread gets to it, in call order
        except BaseException:  # e.g. OSError for SIGKILL: nothing changed
            if took_it_before:
                self._handlers[signalnum] = previous
            else:
                del self._handlers[signalnum]
            raise
        return previous

    def getsignal(self, signalnum: int) -> object:
        """``signal.getsignal`` as the script sees it."""
        if int(signalnum) in self._handlers:
            return self._handlers[int(signalnum)]
        return _real_getsignal(signalnum)

    def _install(self, signum: int, handler) -> None:
        """On the main thread: route ``signum`` to what the script asked for."""
        if signum in self._kmon_handlers:
            kmon_handler = self._kmon_handlers[signum]
        else:
            kmon_handler = _real_getsignal(signum)
        if callable(handler) or callable(kmon_handler):
            target = self._trampoline_handler
        else:
            target = handler  # SIG_IGN or SIG_DFL where kmon has nothing of its own
        _real_signal(signum, target)
        self._kmon_handlers.setdefault(signum, kmon_handler)
        self._installed[signum] = target

    def _give_back(self) -> None:
        """On the main thread: put back what was there, unless someone changed it."""
        for signum, target in self._installed.items():
            kmon_handler = self._kmon_handlers[signum]
            if _still_installed(signum, target) and kmon_handler is not None:
                _real_signal(signum, kmon_handler)
        self._installed.clear()

    def _trampoline(self, signum: int, frame) -> None:
        """kmon's handler for a signal the script took: runs on the main thread."""
        handler = self._handlers.get(signum, signal.SIG_DFL)
        kmon_handler = self._kmon_handlers.get(signum)
        given_back = not callable(handler) and handler == signal.SIG_DFL
        if callable(kmon_handler) and (signum in KMON_FIRST or given_back):
            kmon_handler(signum, frame)
        if callable(handler):
            self._run_for_script(handler, signum)

    def _run_for_script(self, handler: Callable, signum: int) -> None:
        frame = sys._current_frames().get(self.script_ident)
        try:
            handler(signum, frame)
        except BaseException as exc:  # noqa: BLE001 - it is the script's, not kmon's
            self._raise_in_script(exc)
        finally:
            del frame

    def interrupt(self) -> None:
        """Raise ``KeyboardInterrupt`` in the script's thread at its next bytecode,
        where Ctrl+C raises it in plain python's main thread. Unlike Ctrl+C there, a
        C call in progress, such as ``time.sleep``, finishes first: Python hands an
        exception to another thread only between bytecodes. Nothing once the script
        has ended."""
        self._raise_in_script(KeyboardInterrupt())

    def _raise_in_script(self, exc: BaseException) -> None:
        with self._delivery_lock:
            if self._accepting:
                self._in_flight = exc
                _set_async_exc(self.script_ident, _carrier(exc))

    def redeliver(self, exc: BaseException) -> bool:
        """Send ``exc`` again if it is the one sent to the script and something on
        the script's thread swallowed it (a gc callback, a ``__del__``).

        Runs in the unraisable hook, on the script's thread. The exception cannot be
        set from here: it would be raised at once, inside the hook, and lost for
        good. A helper thread sets it once the hook has returned.
        """
        if exc is not self._in_flight or threading.get_ident() != self.script_ident:
            return False
        self.in_unraisable_hook = True
        threading.Thread(
            target=self._resend_after_hook, args=(exc,), name="kmon-resend", daemon=True
        ).start()
        return True

    def _resend_after_hook(self, exc: BaseException) -> None:
        while self.in_unraisable_hook:
            time.sleep(0.001)
        self._raise_in_script(exc)


def _redeliver_swallowed(unraisable) -> None:
    """``sys.unraisablehook`` while a script runs: an exception sent to the script
    that landed where Python cannot raise it goes to the script again."""
    forwarding = _active.get(threading.get_ident())
    if forwarding is not None and forwarding.redeliver(unraisable.exc_value):
        # A plain store and nothing after it: no bytecode here may take the resent
        # exception (a call would).
        forwarding.in_unraisable_hook = False
        return
    _outer_unraisablehook(unraisable)


def _carrier(exc: BaseException) -> type[BaseException]:
    """A class whose instantiation yields ``exc`` itself: CPython raises an async
    exception by calling the class with no arguments, which would lose
    ``SystemExit(3)``'s code."""
    cls = type(exc)
    try:
        return type(cls.__name__, (cls,), {"__new__": lambda _cls, *args: exc})
    except TypeError:  # a class that cannot be subclassed: raise its plain type
        return cls


class _Withdrawn(Exception):  # noqa: N818 - not an error: a placeholder raised and caught
    """Set in place of an exception not yet raised in the script's thread, and raised
    and caught there at once (:func:`_withdraw_pending`)."""


def _withdraw_pending(ident: int | None) -> None:
    """Take back an exception set for the thread ``ident`` and not yet raised.

    ``PyThreadState_SetAsyncExc(ident, NULL)`` takes it back too, but on Python
    before 3.12 it leaves the interpreter's "async exception pending" flag set
    for good: every thread's eval loop then takes its slow path at each call and
    loop, and a thread with a trace function (coverage, a debugger) spins for ever
    at its next call. So on its own thread, a placeholder replaces it and is raised
    and caught here, which clears the flag."""
    if ident is None or ident != threading.get_ident():
        _set_async_exc(ident, None)
        return
    try:
        _set_async_exc(ident, _Withdrawn)
        for _ in range(2):  # a backward jump: the eval loop raises it here at the latest
            pass
    except _Withdrawn:
        pass


def _set_async_exc(ident: int | None, exc_class: type[BaseException] | None) -> None:
    if ident is None:
        return
    ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(ident), ctypes.py_object(exc_class) if exc_class else None
    )


def _forwarding() -> ScriptSignals | None:
    if threading.current_thread() is threading.main_thread():
        return None  # also a forked child, whose only thread is its main one
    return _active.get(threading.get_ident())


def _forwarded_signal(signalnum, handler):
    forwarding = _forwarding()
    if forwarding is None:
        return _real_signal(signalnum, handler)
    return forwarding.signal(signalnum, handler)


def _forwarded_getsignal(signalnum):
    forwarding = _forwarding()
    if forwarding is None:
        return _real_getsignal(signalnum)
    return forwarding.getsignal(signalnum)


def _still_installed(signum: int, target: object) -> bool:
    """Whether ``signum``'s handler is still what kmon installed for the script."""
    current = _real_getsignal(signum)
    return current is target or (not callable(target) and current == target)


def _script_handlers_in_child() -> None:
    """In a process forked while a script runs (its multiprocessing workers): no
    kmon thread is there to forward to, and the process is the script's, so
    ``signal`` is the real one again and each signal the script took gets the
    handler the script gave it, as the child of a plain ``python`` run has."""
    global _active
    signal.signal, signal.getsignal = _real_signal, _real_getsignal
    if sys.unraisablehook is _redeliver_swallowed:
        sys.unraisablehook = _outer_unraisablehook
    for forwarding in list(_active.values()):
        for signum, target in forwarding._installed.items():
            if _still_installed(signum, target):
                _real_signal(signum, forwarding._handlers.get(signum, signal.SIG_DFL))
    _active = {}


os.register_at_fork(after_in_child=_script_handlers_in_child)

_forwarded_signal.__doc__ = _real_signal.__doc__
_forwarded_getsignal.__doc__ = _real_getsignal.__doc__
