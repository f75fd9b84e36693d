"""The headless front end's loop: runs a session to its end, reporting as it goes and
answering Ctrl+C, SIGTERM and a hang-up, as the live monitor does for the TUI."""

from __future__ import annotations

import gc
import sys
import time

from kmon.engine.headless.news_order import OutputAfterNews
from kmon.engine.headless.reporter import HeadlessReporter
from kmon.engine.run.session import Session
from kmon.engine.run.terminal_guard import TerminalGuard
from kmon.engine.stop import stopping_line
from kmon.engine.view.state import RunState

#: News (an epoch's end, an alarm, the script's output waiting for kmon's lines)
#: wakes the loop (the session's bell), and is printed at most this long after
#: the last print: news that streams is coalesced. Where the loop prints the
#: script's output itself (no pass-through), it wakes this often to look.
DRAIN_SECONDS = 0.1
#: Batches alone print nothing: they wait in the channel (50,000 fit there) and are
#: drained at most this often, so each drain folds one long block (with numpy, from
#: ``block_fold.NUMPY_AT`` batches) rather than a tenth of a second's worth. With
#: no news, the loop sleeps this long (a SIGTERM rings it awake).
BATCH_DRAIN_SECONDS = 0.5
#: Exit code when a second SIGTERM gives up on a stopping run (128 + SIGTERM).
SIGTERM_EXIT_CODE = 143


def run_headless(session: Session, *, explain_last_epoch: bool = False, quiet: bool = False) -> int:
    """Run to the end, printing the script's output and one line per epoch.

    Ctrl+C or SIGTERM asks training to stop gracefully; a second one gives up at
    once. If the terminal hangs up, training goes on silently to the end.
    Returns the run's exit code.

    Args:
        session: the run, not started yet.
        explain_last_epoch: end with the last epoch's explanation (scenarios).
        quiet: print the summary only (see :class:`HeadlessReporter`).
    """
    session.start(pass_output_through=True)
    return follow_headless(session, explain_last_epoch=explain_last_epoch, quiet=quiet)


def follow_headless(
    session: Session,
    state: RunState | None = None,
    *,
    explain_last_epoch: bool = False,
    quiet: bool = False,
) -> int:
    """Report a started session headless until its run ends; return its exit code.

    Args:
        session: a started session.
        state: what was already shown (when a monitor hands over mid-run).
        explain_last_epoch: end with the last epoch's explanation.
        quiet: print the summary only.
    """
    through = session.output_through
    order = OutputAfterNews(session, session.bell)
    if through is not None:
        through.before_write = order
    reporter = HeadlessReporter(
        *_kmon_streams(session, session.terminal_out, session.terminal_err),
        log_path=str(session.log_path),
        state=state,
        explain_last_epoch=explain_last_epoch,
        quiet=quiet,
        echo_output=through is None,
    )
    interrupts = terminations = 0
    frozen = False

    def terminate() -> None:
        # In the signal handler: the stop, and a ring so that the loop says so now,
        # before the stopped fit's end (a pipe write: safe there).
        session.request_stop()
        session.bell.ring()

    with TerminalGuard(session.terminal_fds(), on_terminate=terminate) as guard:
        drained_at = time.monotonic()
        while not session.finished:
            try:
                if through is None:
                    session.wait(DRAIN_SECONDS)
                elif order.wait(BATCH_DRAIN_SECONDS):  # news, or output waiting for it
                    time.sleep(max(0.0, drained_at + DRAIN_SECONDS - time.monotonic()))
                order.clear()  # what rang so far is in the drain below
                if guard.terminations != terminations:
                    terminations = guard.terminations
                    if terminations > 1:
                        order.close()
                        session.abandon()
                        _hand_back(reporter, session)
                        return SIGTERM_EXIT_CODE
                    what = stopping_line(session.stop_action)
                    reporter.say(f"SIGTERM: {what}; send it again to quit now")
                now = time.monotonic()
                if session.news_waiting or now - drained_at >= BATCH_DRAIN_SECONDS:
                    drained_at = now
                    reporter.handle(session.drain())
                    order.printed(session.drained_through)
                if not frozen and reporter.state.fits:
                    frozen = _freeze_what_is_alive()
            except KeyboardInterrupt:
                interrupts += 1
                if interrupts == 2 and session.awaiting_threads:
                    # The first stopped a thread's fit; this one gives the threads
                    # up, as one Ctrl+C in Python's wait at exit does: the run ends.
                    what = stopping_line(session.request_stop())
                    reporter.say(f"{what}; Ctrl+C again to quit now")
                    continue
                if interrupts > 1:
                    order.close()
                    session.abandon()
                    _hand_back(reporter, session)
                    return 130
                what = stopping_line(session.request_stop())
                reporter.say(f"{what}; Ctrl+C again to quit now")
            except OSError:
                # The terminal is gone but no SIGHUP came (yet): stop writing to it.
                guard.silence()
        # Closing joins the capture threads, so the script's last lines are drained
        # before the summary.
        order.close()
        session.close()
        _hand_back(reporter, session)
    return session.exit_code or 0


def _freeze_what_is_alive() -> bool:
    """Take what is alive as the first fit starts (TensorFlow, Keras, the model:
    ~360,000 objects) out of the collector's generations, as the live monitor does:
    a full collection over them costs ~0.2 s of CPU, and a fast run's events, alive
    long enough in the queues to reach the oldest generation, set one off every few
    tens of seconds on whichever thread allocates. Objects made later are collected
    as before; the collection first (once) leaves no garbage frozen for good."""
    gc.collect()
    gc.freeze()
    return True


def _kmon_streams(session: Session, out, err) -> tuple:
    """``out`` and ``err`` for kmon's own lines: each on a line of its own where
    the script's output passes through as it comes (a progress line left open)."""
    through = session.output_through
    if through is None:
        return out, err
    return through.lines("stdout", out), through.lines("stderr", err)


def _hand_back(reporter: HeadlessReporter, session: Session) -> None:
    reporter.out, reporter.err = _kmon_streams(session, sys.stdout, sys.stderr)
    try:
        reporter.handle(session.drain())
        reporter.state.dropped = session.dropped
        reporter.finish()
    except OSError:
        pass  # nobody is left to read the summary; the event log has everything
