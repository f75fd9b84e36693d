"""The session's bell (engine/run/bell.py): what the headless loop sleeps on."""

from __future__ import annotations

import gc
import os
import signal
import threading
import time

import pytest

from kmon.engine.run.bell import Bell


def test_a_ring_stands_until_cleared():
    bell = Bell()
    assert not bell.wait(0)
    bell.ring()
    bell.ring()
    assert bell.wait(0) and bell.wait(0)  # a wait does not answer it
    bell.clear()
    assert not bell.wait(0.01)


def test_a_ring_from_another_thread_wakes_the_waiter_at_once():
    bell = Bell()
    ringer = threading.Timer(0.05, bell.ring)
    start = time.monotonic()
    ringer.start()
    assert bell.wait(5)
    assert time.monotonic() - start < 2
    ringer.join()


@pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="needs setitimer")
def test_a_signal_handler_on_the_waiting_thread_can_ring_it():
    """An Event's lock, held by the wait it interrupts, would deadlock here."""
    bell = Bell()
    previous = signal.signal(signal.SIGALRM, lambda *_: bell.ring())
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.05)
        start = time.monotonic()
        assert bell.wait(5)
        assert time.monotonic() - start < 2
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc")
def test_rings_never_block_and_a_collected_bell_closes_its_pipe():
    bell = Bell()
    for _ in range(100_000):  # far past a pipe's 64 KiB
        bell.ring()
    assert bell.wait(0)
    bell.clear()
    assert not bell.wait(0)
    pipe = f"pipe:[{os.fstat(bell._read).st_ino}]"
    assert _open_pipes().count(pipe) == 2
    del bell
    gc.collect()
    assert pipe not in _open_pipes()


def _open_pipes() -> list[str]:
    """What this process's descriptors lead to (``pipe:[inode]`` for a pipe's end)."""
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            found.append(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:
            pass  # the listing's own descriptor, closed since
    return found
