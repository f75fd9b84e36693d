"""The thread the script runs on: its stack starts at its target, and threading
knows it by name while it runs, and not after."""

from __future__ import annotations

import sys
import threading

from kmon.engine.run.bare_thread import start_bare_thread


def _run_and_look(name: str) -> dict:
    seen: dict = {}
    done = threading.Event()

    def target() -> None:
        try:
            frame, files = sys._getframe(), []
            while frame is not None:
                files.append(frame.f_code.co_filename)
                frame = frame.f_back
            seen["files"] = files
            seen["name"] = threading.current_thread().name
            seen["listed"] = name in [thread.name for thread in threading.enumerate()]
            seen["ident"] = threading.get_ident()
        finally:
            done.set()

    start_bare_thread(target, name)
    assert done.wait(10.0)
    return seen


def test_the_stack_starts_at_the_target_with_no_threading_frames() -> None:
    seen = _run_and_look("kmon-bare-test")
    assert seen["name"] == "kmon-bare-test" and seen["listed"]
    assert not [file for file in seen["files"] if file.endswith("threading.py")]
    assert len(seen["files"]) == 2  # the target and the thread's own first frame


def test_threading_forgets_the_thread_when_its_target_returns() -> None:
    for round_ in range(3):  # idents are reused: a later thread is never taken for it
        seen = _run_and_look(f"kmon-bare-{round_}")
        assert seen["name"] == f"kmon-bare-{round_}"
        for _ in range(200):
            if seen["ident"] not in threading._active:  # noqa: SLF001
                break
            threading.Event().wait(0.01)
        names = [thread.name for thread in threading.enumerate()]
        assert f"kmon-bare-{round_}" not in names
