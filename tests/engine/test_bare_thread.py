"""The thread the script runs on: its stack starts at its target, and threading
knows it by name while it runs, and not after."""

from __future__ import annotations

import multiprocessing
import os
import sys
import threading

import pytest

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


def test_the_thread_gets_threadings_trace_and_profile_functions() -> None:
    """Tools that watch every thread (coverage, profilers) set them through
    threading.settrace and threading.setprofile: the script's thread gets them,
    as a threading.Thread would."""
    traced, profiled = [], []
    done = threading.Event()

    def script_code() -> None:
        done.set()

    def trace(frame, event, arg):
        traced.append(frame.f_code.co_name)

    def profile(frame, event, arg):
        profiled.append(frame.f_code.co_name)

    threading.settrace(trace)
    threading.setprofile(profile)
    try:
        start_bare_thread(script_code, "kmon-bare-traced")
        assert done.wait(10.0)
    finally:
        threading.settrace(None)  # type: ignore[arg-type]
        threading.setprofile(None)  # type: ignore[arg-type]
    assert "script_code" in traced and "script_code" in profiled


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork is POSIX's")
def test_a_process_forked_from_the_thread_exits_cleanly() -> None:
    """A script's multiprocessing.Process with fork (Linux's default before Python
    3.14) from the script's thread: on Python before 3.13, a thread threading did
    not start, known to it, became the child's main thread without the lock
    threading's shutdown releases, and every such child exited with code 1."""
    seen: dict = {}
    done = threading.Event()

    def script_code() -> None:
        try:
            child = multiprocessing.get_context("fork").Process(target=_child_work)
            child.start()
            child.join(30.0)
            seen["exitcode"] = child.exitcode
            seen["name"] = threading.current_thread().name
            seen["listed"] = "kmon-bare-forks" in [t.name for t in threading.enumerate()]
        finally:
            done.set()

    start_bare_thread(script_code, "kmon-bare-forks")
    assert done.wait(60.0)
    assert seen == {"exitcode": 0, "name": "kmon-bare-forks", "listed": True}


def _child_work() -> None:
    threading.current_thread().name  # noqa: B018 - the child's threading works
