"""Who `kmon stop`, `ps` and `attach` may signal: a run's own process only, known by
its pid, start time and boot id; crafted logs, another user's run, and log fields
that hold terminal escapes.

Every case that checks that nothing was killed starts a real, unrelated sleeper and
runs the `kmon` under test as uid 65534 (nobody), the sleeper too: were the fix
broken, a kill(-1) or a process-group kill could only reach nobody's processes.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest
from kmon_commands import assert_one_line_error
from kmon_process import run_kmon

from kmon.engine.log import runs_folder as runs
from kmon.engine.log.process_identity import current_boot_id, start_time_of

NOBODY = 65534
SLEEP = "import time; time.sleep(60)"
ESCAPES = "\x1b[2J\x1b]0;PWNED\x07\x9b31m"


def start_sleeper(user: int | None, *, own_group: bool = False) -> subprocess.Popen:
    """An unrelated Python process (not kmon), as ``user``; ``own_group``: the leader
    of its own process group."""
    command = [sys.executable, "-c", SLEEP]
    if user is not None:
        command = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", *command]
    process = subprocess.Popen(command, start_new_session=own_group)
    deadline = time.monotonic() + 10
    while start_time_of(process.pid) is None and time.monotonic() < deadline:
        time.sleep(0.01)
    return process


@pytest.fixture
def shared(second_user) -> Path:
    """A folder both users reach, outside pytest's own: a pytest session started
    meanwhile (by another test run on the machine) makes /tmp/pytest-of-root 0700."""
    with tempfile.TemporaryDirectory(prefix="kmon-identity-") as folder:
        os.chmod(folder, 0o755)
        yield Path(folder)


@pytest.fixture
def sleepers():
    started: list[subprocess.Popen] = []

    def start(user: int | None = NOBODY, *, own_group: bool = False) -> subprocess.Popen:
        started.append(start_sleeper(user, own_group=own_group))
        return started[-1]

    yield start
    for process in started:
        process.kill()
        process.wait()


def write_start(folder: Path, name: str, **fields) -> Path:
    """A log holding one ``run_start`` line with ``fields`` as given (any JSON)."""
    folder.mkdir(exist_ok=True)
    line = {"v": 1, "type": "run_start", "t": 1_764_000_000.0, "script": "/x/train.py"}
    line.update(fields)
    path = folder / f"{name}.jsonl"
    path.write_text(json.dumps(line) + "\n")  # NaN and Infinity as bare tokens
    return path


def identity_of(process: subprocess.Popen) -> dict:
    return {
        "pid": process.pid,
        "start_time": start_time_of(process.pid),
        "boot_id": current_boot_id(),
    }


#: Crafted run_start fields, from the sleeper's pid -> what the log says.
CRAFTED = {
    "its-process-group": lambda pid: {"pid": -pid},
    "minus-one": lambda pid: {"pid": -1},
    "zero": lambda pid: {"pid": 0},
    "true": lambda pid: {"pid": True},
    "false": lambda pid: {"pid": False},
    "string": lambda pid: {"pid": str(pid)},
    "float": lambda pid: {"pid": float(pid)},
    "fraction": lambda pid: {"pid": 1.5},
    "twenty-digits": lambda pid: {"pid": 10**20},
    "null": lambda pid: {"pid": None},
    "list": lambda pid: {"pid": [pid]},
    "object": lambda pid: {"pid": {"pid": pid}},
    "nan": lambda pid: {"pid": math.nan},
    "infinity": lambda pid: {"pid": math.inf},
    "older-kmon": lambda pid: {"pid": pid},
    "other-start-time": lambda pid: {
        "pid": pid,
        "start_time": start_time_of(pid) + 1,
        "boot_id": current_boot_id(),
    },
    "other-boot": lambda pid: {
        "pid": pid,
        "start_time": start_time_of(pid),
        "boot_id": "00000000" + current_boot_id()[8:],
    },
    "start-time-as-string": lambda pid: {
        "pid": pid,
        "start_time": str(start_time_of(pid)),
        "boot_id": current_boot_id(),
    },
}


@pytest.mark.parametrize("case", sorted(CRAFTED))
def test_a_crafted_run_start_never_gets_an_unrelated_process_signalled(
    case, second_user, sleepers, shared
):
    sleeper = sleepers(own_group=True)
    folder = shared / "kmon-runs"
    write_start(folder, case, **CRAFTED[case](sleeper.pid))
    listing = run_kmon("ps", "--runs-dir", str(folder), cwd=shared, user=second_user)
    assert listing.returncode == 0 and "Traceback" not in listing.stderr, listing.stderr
    row = listing.stdout.splitlines()[1].split()
    assert row[0] == case and row[1] in ("stale", "unknown"), listing.stdout
    stop = run_kmon("stop", case, "--runs-dir", str(folder), cwd=shared, user=second_user)
    assert_one_line_error(stop, case)
    time.sleep(0.2)
    assert sleeper.poll() is None, "kmon stop signalled an unrelated process"


def test_a_run_whose_identity_matches_is_running_and_stops(second_user, sleepers, shared):
    """The control for the case above: the same sleeper, recorded as it is, is a
    running run, and `kmon stop` (as the same user) signals it."""
    sleeper = sleepers()
    folder = shared / "kmon-runs"
    write_start(folder, "real", **identity_of(sleeper))
    listing = run_kmon("ps", "--runs-dir", str(folder), cwd=shared, user=second_user)
    assert listing.stdout.splitlines()[1].split()[:2] == ["real", "running"], listing.stdout
    stop = run_kmon("stop", "real", "--runs-dir", str(folder), cwd=shared, user=second_user)
    assert stop.returncode == 0, stop.stderr
    assert f"asked run real (pid {sleeper.pid}) to stop" in stop.stdout
    assert sleeper.wait(10) == -signal.SIGTERM


@pytest.mark.parametrize("case", sorted(CRAFTED))
def test_no_crafted_pid_reaches_a_signal_in_process(case, sleepers, monkeypatch, tmp_path):
    """The same logs through the engine with the signal calls recorded, not made:
    nothing but a signal-0 probe of a positive pid may happen. (``sleepers`` comes
    before ``monkeypatch``: its teardown kills with the real ``os.kill``.)"""
    sleeper = sleepers(user=None, own_group=True)
    path = write_start(tmp_path, case, **CRAFTED[case](sleeper.pid))
    calls: list[tuple] = []
    monkeypatch.setattr(os, "kill", lambda pid, sig: calls.append(("kill", pid, sig)))
    if hasattr(signal, "pidfd_send_signal"):
        monkeypatch.setattr(
            signal, "pidfd_send_signal", lambda *args: calls.append(("pidfd", *args))
        )
    info = runs.read_run(path)
    assert info is not None and info.status in ("stale", "unknown")
    with pytest.raises((runs.RunNotFound, runs.SignalRefused)) as refused:
        runs.request_stop(info)
    assert "\n" not in str(refused.value)
    assert all(call[0] == "kill" and call[1] > 0 and call[2] == 0 for call in calls), calls


def test_another_users_run_cannot_be_stopped_and_says_so(second_user, sleepers, shared):
    """A run of root's, `kmon stop` as nobody: one line, the run goes on."""
    sleeper = sleepers(user=None)
    folder = shared / "kmon-runs"
    write_start(folder, "roots-run", **identity_of(sleeper))
    listing = run_kmon("ps", "--runs-dir", str(folder), cwd=shared, user=second_user)
    assert listing.stdout.splitlines()[1].split()[:2] == ["roots-run", "running"]
    stop = run_kmon("stop", "roots-run", "--runs-dir", str(folder), cwd=shared, user=second_user)
    assert_one_line_error(stop, "cannot stop run roots-run", "another user (uid 0)")
    time.sleep(0.2)
    assert sleeper.poll() is None


#: Runs as nobody: the monitor attached to root's run, `x` then `y`.
ATTACH_AND_STOP = """\
import asyncio, json, sys
from kmon.engine.log.runs_folder import read_run
from kmon.engine.log.sources import FollowSource
from kmon.tui.attach_app import AttachedMonitorApp

async def main():
    info = read_run(__import__("pathlib").Path(sys.argv[1]))
    app = AttachedMonitorApp(FollowSource(info.path, info.identity))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause(0.3)
        await pilot.press("x")
        await pilot.pause(0.2)
        await pilot.press("y")
        await pilot.pause(0.3)
        notes = [note.message for note in app._notifications]
        stopping = app.query_one("RunHeader").stopping
        app.exit()
    print(json.dumps({"notes": notes, "stopping": stopping}))

asyncio.run(main())
"""


def test_x_in_attach_on_another_users_run_is_a_notice(second_user, sleepers, shared):
    sleeper = sleepers(user=None)
    log = write_start(shared / "kmon-runs", "roots-run", **identity_of(sleeper))
    script = shared / "attach_and_stop.py"
    script.write_text(ATTACH_AND_STOP)
    done = subprocess.run(
        ["setpriv", f"--reuid={second_user}", f"--regid={second_user}", "--clear-groups"]
        + [sys.executable, str(script), str(log)],
        cwd=shared,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "HOME": str(shared)},
    )
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr[-3000:]
    result = json.loads(done.stdout.splitlines()[-1])
    assert result["stopping"] is False
    notes = [note for note in result["notes"] if "Not stopped" in note]
    assert len(notes) == 1 and "another user (uid 0)" in notes[0], result
    assert "\n" not in notes[0]
    assert sleeper.poll() is None


def assert_no_controls(text: str) -> None:
    for control in ("\x1b", "\x07", "\x9b"):
        assert control not in text, repr(text)


def test_ps_and_stop_print_log_fields_as_text(tmp_path):
    folder = tmp_path / "kmon-runs"
    write_start(folder, "esc\x1b]0;x\x07", script=f"/x/{ESCAPES}.py", pid=None)
    write_start(folder, "scenario", scenario=ESCAPES, variant=ESCAPES + "\ud800", pid=None)
    listing = run_kmon("ps", "--runs-dir", str(folder), cwd=tmp_path)
    assert listing.returncode == 0, listing.stderr
    assert_no_controls(listing.stdout)
    assert "\\x1b[2J\\x1b]0;PWNED\\x07\\x9b31m" in listing.stdout  # shown, escaped
    assert "\\ud800" in listing.stdout  # a lone surrogate cannot even be printed raw
    stop = run_kmon("stop", "esc", "--runs-dir", str(folder), cwd=tmp_path)
    assert_one_line_error(stop, "run esc\\x1b]0;x\\x07 is not running")
    assert_no_controls(stop.stderr)


def test_list_prints_a_user_scenarios_texts_as_text(tmp_path):
    folder = tmp_path / "scenarios"
    folder.mkdir()
    (folder / "hostile.py").write_text(
        textwrap.dedent(
            f"""\
            from kmon.scenarios.base import Scenario

            SCENARIO = Scenario(
                name="hostile",
                title={ESCAPES!r},
                question={ESCAPES!r},
                variants={{"v": {ESCAPES!r}}},
                explanation="",
                symptom="",
                look_at="",
                train=lambda variant: None,
            )
            """
        )
    )
    listing = run_kmon("list", "--from", str(folder), cwd=tmp_path)
    assert listing.returncode == 0, listing.stderr
    assert_no_controls(listing.stdout)
    assert "hostile: \\x1b[2J\\x1b]0;PWNED\\x07" in listing.stdout


#: A value of every JSON kind, and the awkward ones.
ANY_JSON = [
    None,
    True,
    False,
    0,
    -1,
    10**20,
    1.5,
    math.nan,
    -math.inf,
    1e300,
    "",
    "123",
    ESCAPES,
    "\ud800",
    [],
    [1],
    {},
    {"a": 1},
]
FIELDS = ["t", "pid", "start_time", "boot_id", "script", "scenario", "variant"]


def test_ps_survives_any_json_value_in_any_field(tmp_path):
    """One `kmon ps` over a folder where each log holds one odd value in one field,
    of run_start, of the tail's events or of run_end."""
    folder = tmp_path / "kmon-runs"
    count = 0
    for field in FIELDS:
        for index, value in enumerate(ANY_JSON):
            write_start(folder, f"start-{field}-{index}", **{field: value})
            count += 1
    for kind, field in [
        ("epoch_end", "epoch"),
        ("batch", "epoch"),
        ("fit_start", "initial_epoch"),
        ("epoch_end", "t"),
        ("run_end", "status"),
        ("run_end", "t"),
    ]:
        for index, value in enumerate(ANY_JSON):
            path = write_start(folder, f"{kind}-{field}-{index}", pid=None)
            with open(path, "a") as handle:
                handle.write(json.dumps({"v": 1, "type": kind, "t": 1.0, field: value}) + "\n")
            count += 1
    listing = run_kmon("ps", "--runs-dir", str(folder), cwd=tmp_path)
    assert listing.returncode == 0 and not listing.stderr, listing.stderr
    assert len(listing.stdout.splitlines()) == count + 1  # the header, a row per log
    assert_no_controls(listing.stdout)
    assert " running " not in listing.stdout


def test_the_attached_monitors_header_shows_the_scripts_name_as_text(tmp_path):
    """The monitor writes the header to the terminal: escapes in the log's script
    name must reach it as text, not as a title change or a cleared screen."""
    pytest.importorskip("pexpect", reason="pexpect is needed for the pty tests")
    pytest.importorskip("pyte", reason="pyte is needed for the pty tests")
    from pty_helpers import Terminal

    write_start(tmp_path / "kmon-runs", "stale", script=f"/x/EVIL{ESCAPES}.py", pid=None)
    terminal = Terminal(["attach", "stale"], cwd=tmp_path, rows=30, cols=100)
    try:
        screen = terminal.wait_for(lambda s: "EVIL" in s and "stale" in s, 30, "the header")
        terminal.press("q")
        assert terminal.wait_for_exit() == 0
    finally:
        terminal.kill()
    assert "\x1b]0;PWNED" not in terminal.output and "\x1b[2J" not in terminal.output
    assert "EVIL\\x1b[2J\\x1b]0;PWNED" in screen
