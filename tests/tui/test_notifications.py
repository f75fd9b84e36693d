"""The monitor's notification sequences (:mod:`kmon.tui.notifications`): what the
terminal receives, inside tmux and out, and which events send them."""

from __future__ import annotations

from kmon.engine.events import Alarm, RunEnd
from kmon.engine.run.notify import Notification
from kmon.tui.notifications import TerminalNotifications, osc_sequences, tmux_passthrough


class FakeDriver:
    def __init__(self) -> None:
        self.written: list[str] = []

    def write(self, data: str) -> None:
        self.written.append(data)


class FakeApp:
    """What the notifier uses of a running Textual app."""

    is_headless = False

    def __init__(self) -> None:
        self._driver = FakeDriver()

    def bell(self) -> None:  # as App.bell writes it
        self._driver.write("\x07")


def test_osc_9_and_777_with_controls_removed() -> None:
    note = Notification("alarm", "error", "bad\x1b]0;x\x07 news", "kmon: nan_loss; x")

    assert osc_sequences(note) == (
        "\x1b]9;bad ]0;x  news\x07\x1b]777;notify;kmon: nan_loss, x;bad ]0;x  news\x07"
    )


def test_tmux_passthrough_doubles_every_escape() -> None:
    assert tmux_passthrough("\x1b]9;hi\x07") == "\x1bPtmux;\x1b\x1b]9;hi\x07\x1b\\"


def test_once_per_raise_and_at_the_end_only() -> None:
    app, notes = FakeApp(), TerminalNotifications(in_tmux=False)
    events = [
        Alarm(kind="nan_loss", severity="error", message="m"),
        Alarm(kind="nan_loss", state="cleared", severity="error", message="m"),
        Alarm(kind="not_learning_yet", severity="info", message="m"),
        RunEnd(status="failed", exit_code=1, error={"message": "boom"}),
    ]
    notes.handle(app, events, "train.py")

    assert [n.message for n in notes.sent] == [
        "error in run train.py: nan_loss: m",
        "run train.py failed: boom",
    ]
    assert app._driver.written[0] == "\x07"
    assert app._driver.written[1].startswith("\x1b]9;error in run train.py")
    assert len(app._driver.written) == 4


def test_off_or_history_sends_nothing() -> None:
    app = FakeApp()
    off = TerminalNotifications(enabled=False, in_tmux=False)
    off.handle(app, [RunEnd(status="ok")], "r")
    history = TerminalNotifications(in_tmux=False)
    old = RunEnd(status="ok", t=1.0)
    history.watch_from_now()
    history.handle(app, [old], "r")

    assert app._driver.written == [] and off.sent == [] and history.sent == []


def test_inside_tmux_the_osc_goes_through_passthrough() -> None:
    app, notes = FakeApp(), TerminalNotifications(in_tmux=True)
    notes.handle(app, [RunEnd(status="stopped", exit_code=130)], "r")

    bell, wrapped = app._driver.written
    assert bell == "\x07"  # tmux handles the bell itself
    assert wrapped.startswith("\x1bPtmux;\x1b\x1b]9;run r stopped\x07")
