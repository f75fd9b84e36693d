"""An exception a script's signal handler raises reaches the script's thread even
when the first bytecode that thread runs is a garbage-collector callback's.

JAX registers a gc callback; an asynchronous exception raised inside one is printed
as "Exception ignored in" and lost, so ``kmon train`` of a script whose SIGTERM
handler calls ``sys.exit(3)`` sometimes kept training (seen in CI as a timeout).
"""

from __future__ import annotations

import gc
import os
import signal
import sys
import threading
import time

from kmon.engine.run.script_signals import ScriptSignals


def _wait_running_bytecode(event: threading.Event, seconds: float = 10.0) -> bool:
    # A sleeping loop, not event.wait(): the main thread must run bytecode for the
    # pending calls (the handler's install) and the signal handler to run.
    deadline = time.monotonic() + seconds
    while not event.is_set() and time.monotonic() < deadline:
        time.sleep(0.005)
    return event.is_set()


def test_an_exit_swallowed_by_a_gc_callback_is_raised_again_in_the_script() -> None:
    installed, inside_callback, handler_ran = (threading.Event() for _ in range(3))
    outcome: list[object] = []

    def spin_in_gc_callback(phase: str, info: dict) -> None:
        if phase == "start" and threading.current_thread().name == "script":
            inside_callback.set()
            while not handler_ran.is_set():
                pass  # the exception lands here, in the callback, and is swallowed

    def on_usr1(signum, frame) -> None:
        handler_ran.set()
        sys.exit(3)

    def script() -> None:
        try:
            with ScriptSignals():
                signal.signal(signal.SIGUSR1, on_usr1)
                installed.set()
                gc.callbacks.append(spin_in_gc_callback)
                try:
                    # The youngest generation: its callbacks run as a full collection's
                    # do, without a pass over a long test worker's whole heap (40 s
                    # of it seen in the full suite, against 1 s alone).
                    gc.collect(0)
                finally:
                    gc.callbacks.remove(spin_in_gc_callback)
                for _ in range(20_000_000):  # the script's own work would go on
                    pass
                outcome.append("the exit was lost")
        except SystemExit as exc:
            outcome.append(exc.code)

    hook_before = sys.unraisablehook
    handler_before = signal.getsignal(signal.SIGUSR1)
    thread = threading.Thread(target=script, name="script")
    thread.start()
    try:
        assert _wait_running_bytecode(installed)
        assert _wait_running_bytecode(inside_callback)
        os.kill(os.getpid(), signal.SIGUSR1)
        assert _wait_running_bytecode(handler_ran)
        thread.join(60)
    finally:
        handler_ran.set()
        thread.join(60)
    assert outcome == [3]
    assert sys.unraisablehook is hook_before, "given back when the script ends"
    assert signal.getsignal(signal.SIGUSR1) == handler_before
