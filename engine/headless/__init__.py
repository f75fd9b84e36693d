"""The headless front end: plain-text reporting for runs without a terminal (logs, CI,
cron), and the loop that drives a session to its end. The TUI is the other front end."""

from kmon.engine.headless.loop import follow_headless, run_headless
from kmon.engine.headless.reporter import HeadlessReporter

__all__ = ["HeadlessReporter", "follow_headless", "run_headless"]
