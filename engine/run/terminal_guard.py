"""Answers SIGHUP, SIGTERM and SIGINT: a hang-up silences the lost terminal while
training goes on; a termination asks for a graceful stop, a second one for an exit.

SIGHUP (an SSH connection drops): the descriptors that reach the terminal are
pointed at /dev/null, so every later write, by kmon or by Textual, goes nowhere
instead of failing, and the run carries on to the end with its event log complete.
Descriptors that lead to a file or a pipe (``> out.log``, ``| tee``) are left alone:
their reader is still there. A process started with SIGHUP ignored (``nohup``) keeps
it ignored.

SIGTERM (``kmon stop``), and SIGINT where the guard is told to treat it alike (the
live monitor, whose raw terminal makes Ctrl+C a key, so a SIGINT comes from outside),
ask training to stop gracefully, like ``q`` in the monitor:
:attr:`TerminalGuard.terminations` counts them, so a second one can end kmon at once.
Where SIGINT is not handled here it stays Python's ``KeyboardInterrupt`` (the
headless loop answers that itself).
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable

from kmon.engine.run.terminal import TerminalModes

#: Seconds after a hang-up before the input's quiet pipe reads end of file. By then
#: the monitor has begun to close, and Textual joins its input thread: a read it
#: began just before the swap, on the pipe, returns then instead of never.
INPUT_RELEASE_SECONDS = 1.0

#: Set once any guard saw the terminal hang up: a process has one terminal, and a
#: terminal that hung up never comes back (the menu must not show itself again).
_TERMINAL_LOST = threading.Event()


#: Guards whose handlers are installed in this process.
_installed: set[TerminalGuard] = set()


def _signals_as_before_in_child() -> None:
    """In a process forked from kmon's (a script's multiprocessing workers, its own
    ``os.fork``): that process is the script's, not kmon's, so its signals get back
    what they had before kmon's guards. A pool's worker that its parent ends with
    SIGTERM must die; with kmon's handler it asked a run it does not have to stop,
    and the parent then waited for it forever at exit."""
    for guard in list(_installed):
        guard._give_back_signals()


os.register_at_fork(after_in_child=_signals_as_before_in_child)


def terminal_lost() -> bool:
    """Whether this process's terminal hung up."""
    return _TERMINAL_LOST.is_set()


class TerminalGuard:
    """Installs SIGHUP and SIGTERM handlers (and SIGINT's, with ``sigint_terminates``)
    while it is entered, on the main thread, and puts the previous ones back after.

    Args:
        terminal_fds: descriptors that may reach the terminal (stdin, and the saved
            copies of stdout/stderr while output is captured). Only those that are
            a terminal when the guard is made are silenced on a hang-up.
        on_hangup: called after the terminal was silenced (e.g. close the monitor).
        on_terminate: called on every SIGTERM (and SIGINT, with
            ``sigint_terminates``), e.g. to request a graceful stop; see
            :attr:`terminations`.
        modes: the terminal's modes as kmon found them: on a hang-up they are put
            back first, in case the terminal is still there (``kill -HUP``).
        draw_fd: where the monitor draws, for the reset sequence.
        input_fds: descriptors a monitor reads keys from. On a hang-up they lead to
            a pipe that never has data rather than to /dev/null, whose endless
            end-of-file would keep an input thread spinning on a core, until
            :data:`INPUT_RELEASE_SECONDS` later: then it reads end of file, so
            that no read blocked on it keeps Textual's input thread (and kmon)
            from ending.
        sigint_terminates: treat SIGINT as SIGTERM. Under the live monitor the
            terminal is raw, so Ctrl+C is a key and a SIGINT comes from outside
            (``kill -INT``): it must stop the run as SIGTERM does, not raise inside
            Textual's loop.
    """

    def __init__(
        self,
        terminal_fds: list[int],
        *,
        on_hangup: Callable[[], None] | None = None,
        on_terminate: Callable[[], None] | None = None,
        modes: TerminalModes | None = None,
        draw_fd: int | None = None,
        input_fds: tuple[int, ...] = (),
        sigint_terminates: bool = False,
    ) -> None:
        self.terminal_fds = [fd for fd in dict.fromkeys(terminal_fds) if _isatty(fd)]
        self.on_hangup = on_hangup
        self.on_terminate = on_terminate
        self.modes = modes
        self.draw_fd = draw_fd
        self.input_fds = tuple(input_fds)
        self.sigint_terminates = sigint_terminates
        self.hung_up = False
        self.terminations = 0
        """SIGTERMs (and SIGINTs, with ``sigint_terminates``) received while installed."""
        self.last_signal: int | None = None
        """The last of those, for an exit code of 128 + its number."""
        self._previous: dict[int, object] = {}
        self._quiet_pipe: tuple[int, int] | None = None
        self._release_lock = threading.Lock()
        self._silence_lock = threading.RLock()

    def __enter__(self) -> TerminalGuard:
        if threading.current_thread() is threading.main_thread():
            handlers = [(signal.SIGHUP, self._on_sighup), (signal.SIGTERM, self._on_termination)]
            if self.sigint_terminates:
                handlers.append((signal.SIGINT, self._on_termination))
            for signum, handler in handlers:
                if signal.getsignal(signum) is signal.SIG_IGN:
                    continue  # nohup, or a parent that wants this signal ignored
                self._previous[signum] = signal.signal(signum, handler)
            _installed.add(self)
        return self

    def __exit__(self, *exc_info) -> None:
        self._give_back_signals()
        self._release_input()

    def _give_back_signals(self) -> None:
        _installed.discard(self)
        ours = {
            signal.SIGHUP: self._on_sighup,
            signal.SIGTERM: self._on_termination,
            signal.SIGINT: self._on_termination,
        }
        for signum, handler in self._previous.items():
            # A handler installed since (a script's own, forwarded by ScriptSignals)
            # is not ours to take away.
            if signal.getsignal(signum) == ours[signum]:
                signal.signal(signum, handler)
        self._previous.clear()

    def _release_input(self) -> None:
        """End of file on the quiet pipe: an input thread blocked reading it (it saw
        the hang-up just before the swap) returns and can finish."""
        with self._release_lock:
            if self._quiet_pipe is not None:
                os.close(self._quiet_pipe[1])
                self._quiet_pipe = None

    def silence(self) -> None:
        """Point every terminal descriptor at /dev/null (once). From the SIGHUP
        handler, or from the thread whose write the lost terminal refused."""
        with self._silence_lock:  # reentrant: a second SIGHUP inside finds it done
            self._silence()

    def _silence(self) -> None:
        if self.hung_up:
            return
        self.hung_up = True
        _TERMINAL_LOST.set()
        if self.modes is not None:
            self.modes.restore(write_fd=self.draw_fd)
        null = os.open(os.devnull, os.O_RDWR)
        try:
            for fd in self.terminal_fds:
                target = self._quiet_input() if fd in self.input_fds else null
                try:
                    os.dup2(target, fd)
                except OSError:
                    pass
        finally:
            os.close(null)
        if self._quiet_pipe is not None:
            release = threading.Timer(INPUT_RELEASE_SECONDS, self._release_input)
            release.daemon = True
            release.start()

    def _quiet_input(self) -> int:
        """The read end of a pipe whose write end stays open: never readable."""
        if self._quiet_pipe is None:
            self._quiet_pipe = os.pipe()
        return self._quiet_pipe[0]

    def hang_up(self) -> None:
        """What SIGHUP does: silence the terminal, then ``on_hangup``. Also for a
        write the lost terminal refused before (or without) the signal."""
        self.silence()
        if self.on_hangup is not None:
            self.on_hangup()

    def _on_sighup(self, signum, frame) -> None:
        self.hang_up()

    def _on_termination(self, signum, frame) -> None:
        """SIGTERM, or SIGINT with ``sigint_terminates``."""
        self.terminations += 1
        self.last_signal = signum
        if self.on_terminate is not None:
            self.on_terminate()


def _isatty(fd: int) -> bool:
    try:
        return os.isatty(fd)
    except OSError:
        return False
