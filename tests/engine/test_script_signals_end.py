"""A script's run leaves the interpreter as it found it: ending a script's signal
forwarding takes back a pending exception without leaving Python's "async
exception pending" flag set, which on Python before 3.12 made every later thread
with a trace function (coverage, a debugger) spin for ever at its first call."""

from __future__ import annotations

import subprocess
import sys
import textwrap

# In a fresh interpreter, whose flag starts clear; a hang stays in the child.
CHILD = textwrap.dedent(
    """
    import os, threading
    from kmon.engine.run.bare_thread import start_bare_thread
    from kmon.engine.run.script_signals import ScriptSignals

    ended = threading.Event()

    def script():
        with ScriptSignals():
            pass
        ended.set()

    start_bare_thread(script, "kmon-training")
    assert ended.wait(10)
    traced, done = [], threading.Event()
    threading.settrace(lambda frame, event, arg: traced.append(frame.f_code.co_name))
    worker = threading.Thread(target=done.set)
    worker.start()
    print("traced thread ran" if done.wait(5) else "traced thread hung", flush=True)
    os._exit(0)
    """
)


def test_a_traced_thread_runs_after_a_script_ended() -> None:
    result = subprocess.run(
        [sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=60
    )
    assert result.stdout.strip() == "traced thread ran", result.stdout + result.stderr
