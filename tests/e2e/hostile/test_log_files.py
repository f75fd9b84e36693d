"""A run's files: private modes, no symlinks followed, new files only unless
``--append``, one writer per log (issue #17, items 2, 3, 16 and part of 15; the
full disk of item 5: test_full_disk.py)."""

from __future__ import annotations

import os
import re
import signal
import stat
import subprocess
from pathlib import Path

import pytest
from file_checks import parsed_lines, wait_until
from kmon_commands import assert_one_line_error
from kmon_process import kmon_command, run_kmon

from kmon.engine.events import EpochEnd, Log, RunEnd, RunStart
from kmon.engine.log.eventlog import EventLogWriter, read_events
from kmon.engine.log.run_files import LogFileError, LogFileExists

RUN_ID = re.compile(r"started run (\d{8}-\d{6}-endless-[0-9a-f]{6}) ")


def mode_of(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


# -- item 2: modes ---------------------------------------------------------------


@pytest.mark.parametrize("umask", [0o000, 0o022])
def test_folders_and_logs_kmon_creates_are_private_whatever_the_umask(tmp_path, umask):
    old = os.umask(umask)
    try:
        writer = EventLogWriter(tmp_path / "made" / "by-kmon" / "run.jsonl")
        writer.put(RunStart(script="x.py", argv=["--api-token=secret"]))
        writer.close()
    finally:
        os.umask(old)
    assert mode_of(tmp_path / "made") == 0o700
    assert mode_of(tmp_path / "made" / "by-kmon") == 0o700
    assert mode_of(writer.path) == 0o600


def test_an_existing_folder_keeps_its_mode(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o775)
    EventLogWriter(shared / "run.jsonl").close()
    assert mode_of(shared) == 0o775
    assert mode_of(shared / "run.jsonl") == 0o600


def test_another_user_cannot_read_a_detached_runs_log_or_output(workdir, second_user):
    started = run_kmon("train", "--detach", "endless.py", "1", cwd=workdir, umask=0)
    assert started.returncode == 0, started.stderr
    run_id = RUN_ID.search(started.stdout).group(1)  # the default name has a random part
    runs = workdir / "kmon-runs"
    log, output = runs / f"{run_id}.jsonl", runs / f"{run_id}.out"
    wait_until(lambda: '"run_end"' in log.read_text(), 60, "the detached run's end")
    assert mode_of(runs) == 0o700
    assert mode_of(log) == mode_of(output) == 0o600
    os.chmod(runs, 0o711)  # even with the folder opened up, the files stay private
    for path in (log, output):
        peek = subprocess.run(
            ["setpriv", f"--reuid={second_user}", f"--regid={second_user}", "--clear-groups"]
            + ["cat", str(path)],
            capture_output=True,
            text=True,
        )
        assert peek.returncode != 0 and "Permission denied" in peek.stderr
        assert "fit_start" not in peek.stdout
    # The longer ids still work as names and prefixes.
    listed = run_kmon("ps", cwd=workdir)
    assert run_id in listed.stdout
    stopped = run_kmon("stop", run_id[:-3], cwd=workdir)
    assert "is not running" in stopped.stderr  # found by its prefix; it has ended


# -- item 3: symlinks, existing files, --append -----------------------------------


@pytest.mark.parametrize("append", [False, True])
def test_a_log_path_that_is_a_symlink_is_refused_and_its_target_untouched(workdir, append):
    target = workdir / "precious.txt"
    target.write_text("keep me\n")
    (workdir / "link.jsonl").symlink_to(target)
    (workdir / "dangling.jsonl").symlink_to(workdir / "created-through-a-link")
    options = ["--append"] if append else []
    for link in ("link.jsonl", "dangling.jsonl"):
        result = run_kmon(
            "train", "--headless", *options, "--log", link, "endless.py", "1", cwd=workdir
        )
        assert_one_line_error(result, link, "symbolic link")
    assert target.read_text() == "keep me\n"
    assert not (workdir / "created-through-a-link").exists()


def test_a_symlink_planted_at_the_default_name_is_never_followed(tmp_path, monkeypatch):
    """Another user who wins the race for a default name gets nothing: kmon picks
    another name and the planted link's target is untouched."""
    from kmon.cli import build_parser
    from kmon.commands.launch import open_session as make_session
    from kmon.engine.log import eventlog
    from kmon.engine.run.targets import CallableTarget

    runs = tmp_path / "runs"
    runs.mkdir()
    target = tmp_path / "victim.txt"
    target.write_text("root's file\n")
    planted = runs / "20260101-000000-train-aaaaaa.jsonl"
    planted.symlink_to(target)
    names = iter([planted, runs / "20260101-000000-train-bbbbbb.jsonl"])
    monkeypatch.setattr(eventlog, "default_log_path", lambda name, runs_dir: next(names))
    args = build_parser().parse_args(["run", "--runs-dir", str(runs), "x"])
    session = make_session(
        CallableTarget(name="train", function=lambda: None),
        args,
        quiet_keras=True,
        evaluate_training_data=False,
    )
    session.writer.put(Log(text="through the link?"))
    session.writer.close()
    assert session.log_path.name.endswith("bbbbbb.jsonl")
    assert target.read_text() == "root's file\n"
    assert planted.is_symlink()
    with pytest.raises(LogFileExists, match="symbolic link"):
        EventLogWriter(planted)


def test_an_existing_log_needs_append_and_then_holds_both_runs(workdir):
    first = run_kmon("train", "--headless", "--log", "run.jsonl", "endless.py", "2", cwd=workdir)
    assert first.returncode == 0, first.stderr
    before = (workdir / "run.jsonl").read_bytes()
    again = run_kmon("train", "--headless", "--log", "run.jsonl", "endless.py", "1", cwd=workdir)
    assert_one_line_error(again, "run.jsonl", "--append")
    assert (workdir / "run.jsonl").read_bytes() == before
    resumed = run_kmon(
        "train", "--headless", "--append", "--log", "run.jsonl", "endless.py", "1", cwd=workdir
    )
    assert resumed.returncode == 0, resumed.stderr
    lines = parsed_lines(workdir / "run.jsonl")
    assert [line["type"] for line in lines].count("run_start") == 2
    replay = run_kmon("replay", "--headless", "run.jsonl", cwd=workdir)
    assert replay.returncode == 0, replay.stderr
    assert "run ok in" in replay.stdout and "2 fits, 3 epochs" in replay.stdout


def test_append_takes_only_this_users_regular_kmon_logs(tmp_path, as_root):
    notes = tmp_path / "notes.txt"
    notes.write_text("not a log\n")
    with pytest.raises(LogFileError, match="not a kmon event log"):
        EventLogWriter(notes, append=True)
    with pytest.raises(LogFileExists, match="not a kmon event log"):
        EventLogWriter(notes)
    assert notes.read_text() == "not a log\n"

    theirs = tmp_path / "theirs.jsonl"
    theirs.write_text(RunStart(script="x.py").to_json() + "\n")
    os.chown(theirs, 65534, 65534)
    with pytest.raises(LogFileError, match="another user"):
        EventLogWriter(theirs, append=True)

    fifo = tmp_path / "fifo.jsonl"
    os.mkfifo(fifo)
    for append in (False, True):
        with pytest.raises(LogFileError, match="not a regular file"):
            EventLogWriter(fifo, append=append)  # refused at once, not hung on the FIFO


def test_appending_to_a_log_cut_mid_line_starts_a_fresh_line(tmp_path):
    path = tmp_path / "run.jsonl"
    path.write_text(RunStart(script="a.py").to_json() + "\n" + '{"v":1,"type":"ba')
    writer = EventLogWriter(path, append=True)
    writer.put(RunStart(script="b.py"))
    writer.close()
    events, report = read_events(path)
    assert [e.script for e in events] == ["a.py", "b.py"]
    assert report.skipped == 1  # only the cut line


def test_ps_reports_the_latest_run_of_a_log_appended_to(tmp_path):
    from kmon.engine.log.process_identity import of_this_process
    from kmon.engine.log.runs_folder import read_run

    path = tmp_path / "resumed.jsonl"
    writer = EventLogWriter(path)
    writer.put(RunStart(script="train.py", pid=1, t=1000.0))
    writer.put(EpochEnd(fit=0, epoch=0, logs={"loss": 1.0}, t=1001.0))
    writer.put(RunEnd(status="ok", t=1002.0))
    writer.close()
    me = of_this_process()
    writer = EventLogWriter(path, append=True)
    writer.put(
        RunStart(script="train.py", pid=me.pid, start_time=me.start_time, boot_id=me.boot_id)
    )
    writer.close()
    info = read_run(path)
    assert (info.status, info.pid, info.epochs) == ("running", me.pid, 0)


# -- item 16: one writer per log ----------------------------------------------------


def test_a_second_run_on_a_log_being_written_is_refused_before_it_trains(workdir):
    program, *prefix = kmon_command()
    first = subprocess.Popen(
        [program, *prefix, "train", "--headless", "--log", "shared.jsonl", "endless.py"],
        cwd=workdir,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    log = workdir / "shared.jsonl"
    try:
        wait_until(lambda: log.exists() and '"epoch_end"' in log.read_text(), 60, "training")
        for options in (["--append"], []):
            second = run_kmon(
                "train",
                "--headless",
                *options,
                "--log",
                "shared.jsonl",
                "endless.py",
                "1",
                cwd=workdir,
            )
            assert_one_line_error(
                second, "shared.jsonl", "being written by another run", f"pid {first.pid}"
            )
            assert "fit" not in second.stdout
    finally:
        first.send_signal(signal.SIGTERM)
        first.wait(60)
    types = [line["type"] for line in parsed_lines(log)]
    assert types.count("run_start") == 1 and types[-1] == "run_end"


def test_a_writer_in_this_process_holds_the_lock_too(tmp_path):
    path = tmp_path / "run.jsonl"
    writer = EventLogWriter(path)
    writer.put(RunStart(script="a.py", pid=os.getpid()))
    try:
        with pytest.raises(
            LogFileError, match=f"being written by another run \\(pid {os.getpid()}\\)"
        ):
            EventLogWriter(path, append=True)
    finally:
        writer.close()
    EventLogWriter(path, append=True).close()  # free again once closed


# -- item 15 (part): --detach with folders it cannot use ------------------------------


def test_detach_into_a_runs_folder_that_is_a_file_is_one_line(workdir):
    (workdir / "runs").write_text("a file\n")
    result = run_kmon("train", "--detach", "--runs-dir", "runs", "endless.py", cwd=workdir)
    assert_one_line_error(result, "runs", "a file is in the way")


def test_detach_into_an_unwritable_folder_is_one_line(workdir, second_user):
    locked = workdir / "locked"
    locked.mkdir(mode=0o755)
    os.chmod(workdir, 0o777)
    for options in (["--log", "locked/run.jsonl"], ["--runs-dir", "locked/runs"]):
        result = run_kmon(
            "train", "--detach", *options, "endless.py", cwd=workdir, user=second_user
        )
        assert_one_line_error(result, "locked", "Permission denied")
    assert list(locked.iterdir()) == []


def test_detach_onto_an_existing_log_says_why_and_creates_nothing(workdir):
    (workdir / "old.jsonl").write_text(RunStart(script="a.py").to_json() + "\n")
    result = run_kmon("train", "--detach", "--log", "old.jsonl", "endless.py", cwd=workdir)
    assert_one_line_error(result, "old.jsonl", "--append")
    assert not (workdir / "old.out").exists()


def test_a_detached_runs_own_one_line_error_is_passed_on(tmp_path):
    from kmon.commands.detach import _early_exit_message

    output = tmp_path / "run.out"
    output.write_text("kmon: error: the event log run.jsonl is being written by another run\n")
    message = _early_exit_message(2, output, created=True)
    assert message == "the event log run.jsonl is being written by another run"
    assert not output.exists()  # it held that line only
    output.write_text("Traceback (most recent call last):\n  ...\n")
    assert "see " + str(output) in _early_exit_message(1, output, created=True)
    assert output.exists()
