"""The live monitor's notifications: a terminal bell and an OSC 9 / OSC 777 desktop
notification when the run ends or an alarm is raised, written to the real terminal
through Textual's driver so that they never land inside a frame."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterable

from textual.app import App

from kmon.engine.events import Event
from kmon.engine.run.notify import Notification, notification_for

BELL = "\a"
# C0 and C1 controls (ESC, BEL, ST...) would end or break the sequence: never sent.
_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def osc_sequences(notification: Notification) -> str:
    """``ESC ] 9 ; message BEL`` (iTerm2, WezTerm, Windows Terminal, Ghostty, kitty,
    foot...) and ``ESC ] 777 ; notify ; title ; body BEL`` (urxvt, VTE: GNOME
    Terminal, Tilix; WezTerm, Ghostty, foot), controls removed."""
    body = _CONTROLS.sub(" ", notification.message)
    title = _CONTROLS.sub(" ", notification.title).replace(";", ",")
    return f"\x1b]9;{body}\a\x1b]777;notify;{title};{body}\a"


def tmux_passthrough(sequence: str) -> str:
    """``sequence`` wrapped for tmux, which hands it to the outer terminal only with
    ``set -g allow-passthrough on`` (tmux 3.3+) and drops it otherwise: ``ESC Ptmux;``
    then the sequence with every ESC doubled, then ``ESC \\``."""
    return "\x1bPtmux;" + sequence.replace("\x1b", "\x1b\x1b") + "\x1b\\"


class TerminalNotifications:
    """Tells the user of the run's end and of each alarm raised (warning or error;
    once per raise), from the events the monitor drains.

    Args:
        enabled: off for ``--no-notify`` and for replays.
        since: events stamped earlier are history (an attached run's log), not news.
        in_tmux: wrap the OSC sequences for tmux (default: when ``$TMUX`` is set).
    """

    def __init__(
        self, *, enabled: bool = True, since: float = 0.0, in_tmux: bool | None = None
    ) -> None:
        self.enabled = enabled
        self.since = since
        self.in_tmux = bool(os.environ.get("TMUX")) if in_tmux is None else in_tmux
        self.sent: list[Notification] = []
        """What was notified, in order."""

    def watch_from_now(self) -> None:
        """Only what happens from now on notifies (a log's history does not)."""
        self.since = time.time()

    def handle(self, app: App, events: Iterable[Event], run: str | None) -> None:
        """Notify what ``events`` deserve; ``run`` names the run in the message."""
        if not self.enabled:
            return
        for event in events:
            if event.t < self.since or event.type not in ("alarm", "run_end"):
                continue
            notification = notification_for(event, run or "?")
            if notification is not None:
                self.sent.append(notification)
                self._send(app, notification)

    def _send(self, app: App, notification: Notification) -> None:
        driver = app._driver  # noqa: SLF001 - Textual's own raw writes (bell, OSC 52) use it
        if app.is_headless or driver is None:
            return
        sequence = osc_sequences(notification)
        if self.in_tmux:
            sequence = tmux_passthrough(sequence)
        try:
            app.bell()
            driver.write(sequence)
        except Exception:  # noqa: BLE001 - a notification must never break the monitor
            pass
