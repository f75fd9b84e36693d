"""``ExitHook`` runs its callback when the script calls ``os._exit``, and only while
it is installed: after the monitor it must give ``os._exit`` back, or a later exit
of kmon's own would run a finished monitor's callback (seen as "the script called
os._exit(0)" printed over the shell's prompt after a stop)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

from kmon.engine.run.terminal import ExitHook


def test_os_exit_is_given_back_after_the_hook():
    real = os._exit
    with ExitHook(lambda code: None):
        assert os._exit is not real
    assert os._exit is real


def test_os_exit_under_the_hook_calls_it_and_after_it_does_not():
    program = textwrap.dedent(
        """
        import os, sys
        from kmon.engine.run.terminal import ExitHook

        with ExitHook(lambda code: print(f"hooked {code}", flush=True)):
            pass
        if sys.argv[1] == "inside":
            with ExitHook(lambda code: print(f"hooked {code}", flush=True)):
                os._exit(3)
        os._exit(4)
        """
    )
    inside = subprocess.run(
        [sys.executable, "-c", program, "inside"], capture_output=True, text=True
    )
    after = subprocess.run([sys.executable, "-c", program, "after"], capture_output=True, text=True)
    assert (inside.returncode, inside.stdout) == (3, "hooked 3\n")
    assert (after.returncode, after.stdout) == (4, "")
