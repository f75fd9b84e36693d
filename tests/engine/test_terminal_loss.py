"""A terminal that goes away mid-frame (an SSH drop) never blocks kmon: the monitor's
refused writes are dropped and reported once, and a read begun on the hung-up
input returns soon after the hang-up (on real pseudo-terminals). And a process
forked from kmon's gets its signals back, as under plain python."""

from __future__ import annotations

import os
import pty
import signal
import threading
import time

from kmon.engine.run.terminal import LossTolerantStream
from kmon.engine.run.terminal_guard import INPUT_RELEASE_SECONDS, TerminalGuard


def test_writes_to_a_hung_up_terminal_are_dropped_and_the_loss_said_once():
    master, slave = pty.openpty()
    stream = os.fdopen(slave, "w", buffering=1)
    lost = []
    drawn = LossTolerantStream(stream, lambda: lost.append(True))
    assert drawn.write("frame 1\n") == 8 and drawn.isatty()
    os.close(master)  # the terminal is gone: the tty refuses writes (EIO)
    for _ in range(3):
        assert drawn.write("frame 2\n" * 500) == 4000
        drawn.flush()
    assert lost == [True] and drawn.lost
    assert drawn.fileno() == slave
    try:
        stream.close()
    except OSError:
        pass  # its buffer still held the refused frame


def test_a_stream_kmon_closed_itself_is_dropped_without_silencing_the_terminal():
    """EBADF is kmon's own closing (the script's ``os._exit`` puts the descriptors
    back while Textual still draws): taken for a hang-up, it pointed the terminal at
    /dev/null just before kmon gave the terminal its modes back, and left it raw
    (about one ``os._exit`` test in four)."""
    master, slave = pty.openpty()
    stream = os.fdopen(os.dup(slave), "w", buffering=1)
    lost = []
    drawn = LossTolerantStream(stream, lambda: lost.append(True))
    os.close(stream.fileno())
    assert drawn.write("frame\n") == 6
    assert drawn.lost and lost == []
    for fd in (master, slave):
        os.close(fd)


def test_a_read_begun_on_the_silenced_input_returns_soon_after_the_hangup():
    master, slave = pty.openpty()
    keys = os.dup(slave)
    guard = TerminalGuard([keys], input_fds=(keys,))
    got = []
    with guard:
        guard.silence()
        reader = threading.Thread(target=lambda: got.append(os.read(keys, 100)), daemon=True)
        began = time.monotonic()
        reader.start()  # as Textual's input thread, after the swap: the quiet pipe
        reader.join(INPUT_RELEASE_SECONDS + 5)
        waited = time.monotonic() - began
        assert got == [b""] and waited >= INPUT_RELEASE_SECONDS * 0.5, (got, waited)
    for fd in (master, slave, keys):
        os.close(fd)


def test_a_child_forked_under_the_guard_dies_on_sigterm_as_under_plain_python():
    """A script's forked worker (multiprocessing's pool) is the script's process:
    kmon's graceful-stop handler must not outlive the fork, or the pool's SIGTERM at
    exit does not end the worker and its parent waits for it forever."""
    guard = TerminalGuard([])
    ready, told = os.pipe()
    with guard:
        assert signal.getsignal(signal.SIGTERM) == guard._on_termination
        pid = os.fork()
        if pid == 0:  # the child: say it runs, then wait to be terminated
            os.write(told, b"r")
            time.sleep(10)
            os._exit(3)  # it survived the SIGTERM
        assert os.read(ready, 1) == b"r"
        os.kill(pid, signal.SIGTERM)
        _, status = os.waitpid(pid, 0)
        assert signal.getsignal(signal.SIGTERM) == guard._on_termination  # the parent's
    os.close(ready)
    os.close(told)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGTERM, status
