"""``--notify-cmd``'s notifier (:mod:`kmon.engine.run.notify`): what notifies, the
command's environment, and a command that fails or hangs, run for real through
the shell."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from kmon.engine.errors import ScriptError
from kmon.engine.events import NOTIFY_TOPIC, Alarm, Batch, Notice, RunEnd
from kmon.engine.run import notify
from kmon.engine.run.notify import CommandNotifier, check_notify_command, notification_for

ENV_LINE = 'echo "$KMON_EVENT|$KMON_RUN_ID|$KMON_STATUS|$KMON_MESSAGE|$KMON_LOG" >> '


def raised(kind: str = "nan_loss", severity: str = "error", state: str = "raised") -> Alarm:
    return Alarm(kind=kind, state=state, severity=severity, message=f"{kind} happened")


class Collect:
    """A sink that never blocks, as the bus's are."""

    def __init__(self) -> None:
        self.events = []

    def __call__(self, event) -> None:
        self.events.append(event)

    @property
    def notices(self) -> list[Notice]:
        return [e for e in self.events if isinstance(e, Notice)]


def test_the_documented_timeout_is_ten_seconds() -> None:
    assert notify.NOTIFY_TIMEOUT_SECONDS == 10.0


def test_what_notifies() -> None:
    assert notification_for(raised(), "r").event == "alarm"
    assert notification_for(raised(severity="warning"), "r").status == "warning"
    # Not info notices, not clears or ends, not other events.
    assert notification_for(raised("not_learning_yet", severity="info"), "r") is None
    assert notification_for(raised(state="cleared"), "r") is None
    assert notification_for(raised(state="ended"), "r") is None
    assert notification_for(Batch(logs={"loss": 1.0}), "r") is None
    ok = notification_for(RunEnd(status="ok"), "r1")
    assert (ok.event, ok.status, ok.message) == ("run_end", "ok", "run r1 finished")
    failed = notification_for(
        RunEnd(status="failed", exit_code=1, error={"message": "ValueError: x\ny"}), "r1"
    )
    assert failed.message == "run r1 failed: ValueError: x y"  # one line
    assert notification_for(RunEnd(status="stopped", exit_code=130), "r1").status == "stopped"


def test_a_program_not_found_is_refused() -> None:
    with pytest.raises(ScriptError, match="program not found: no-such-notifier"):
        check_notify_command("no-such-notifier --flag")
    with pytest.raises(ScriptError, match="empty"):
        check_notify_command("  ")
    with pytest.raises(ScriptError, match="cannot be parsed"):
        check_notify_command("curl 'unclosed")
    check_notify_command('curl -s -d "$KMON_MESSAGE" https://ntfy.sh/x')
    check_notify_command("echo hi >> file")
    check_notify_command("X=1 sh -c true")


def test_the_command_gets_the_run_and_the_event(tmp_path: Path) -> None:
    out, log = tmp_path / "seen.txt", tmp_path / "20260101-000000-train-abc123.jsonl"
    sink = Collect()
    notifier = CommandNotifier(ENV_LINE + str(out), sink, log)
    notifier.put(Batch(logs={"loss": 1.0}))
    notifier.put(raised("nan_loss"))
    notifier.put(raised("not_learning_yet", severity="info"))
    notifier.finish(RunEnd(status="stopped", exit_code=130))

    lines = sorted(out.read_text().splitlines())
    run_id = "20260101-000000-train-abc123"
    assert lines == [
        f"alarm|{run_id}|error|error in run {run_id}: nan_loss: nan_loss happened|{log}",
        f"run_end|{run_id}|stopped|run {run_id} stopped|{log}",
    ]
    assert notifier.sent == 2
    assert sink.notices == []


def test_the_run_end_is_notified_after_the_alarms_commands_end(tmp_path: Path) -> None:
    """A slower alarm's command (a webhook's round trip) still reaches the user's
    channel before the run's end: the end's command waits for it."""
    out = tmp_path / "seen.txt"
    command = f'[ "$KMON_EVENT" = alarm ] && sleep 0.5; echo "$KMON_EVENT" >> {out}'
    notifier = CommandNotifier(command, Collect(), tmp_path / "r.jsonl")
    notifier.put(raised("nan_loss"))
    notifier.put(raised("exploding_gradients"))
    notifier.finish(RunEnd(status="ok"))

    assert out.read_text().splitlines() == ["alarm", "alarm", "run_end"]
    assert notifier.sent == 3


def test_a_failing_command_is_a_notice(tmp_path: Path) -> None:
    sink = Collect()
    notifier = CommandNotifier("echo no webhook >&2; exit 7", sink, tmp_path / "r.jsonl")
    notifier.finish(RunEnd(status="ok"))

    [notice] = sink.notices
    assert notice.topic == NOTIFY_TOPIC
    assert notice.level == "warning"
    assert notice.text == "--notify-cmd failed (exit code 7) for run_end: no webhook"


def test_a_hanging_command_is_killed_at_the_timeout(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(notify, "NOTIFY_TIMEOUT_SECONDS", 0.5)
    sink, marker = Collect(), tmp_path / "child-alive"
    # The shell's child must die too: it would touch the marker after 3 s.
    notifier = CommandNotifier(f"(sleep 3; touch {marker}) & sleep 30", sink, tmp_path / "r.jsonl")
    started = time.monotonic()
    notifier.finish(RunEnd(status="ok"))
    waited = time.monotonic() - started

    assert 0.4 < waited < 3.0
    [notice] = sink.notices
    assert notice.text.startswith("--notify-cmd was still running after 0.5 s for run_end")
    assert notice.text.endswith("killed")
    time.sleep(3.5)
    assert not marker.exists()


def test_training_never_waits_for_a_command(tmp_path: Path, monkeypatch) -> None:
    """``put`` (on the training thread) only queues; the command runs elsewhere."""
    monkeypatch.setattr(notify, "NOTIFY_TIMEOUT_SECONDS", 2.0)
    sink = Collect()
    notifier = CommandNotifier("sleep 30", sink, tmp_path / "r.jsonl")
    started = time.monotonic()
    for _ in range(5):
        notifier.put(raised())
    assert time.monotonic() - started < 0.05
    assert threading.current_thread() is threading.main_thread()
    notifier.finish(RunEnd(status="ok"))
    # The five alarms' commands ran at once and were killed together, then the end's.
    assert time.monotonic() - started < 7.0
    assert len(sink.notices) == 6
    assert notifier.sent == 6
