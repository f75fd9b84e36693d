"""``kmon train`` without a terminal: stdout is a pipe, so kmon runs headless.

Each scenario runs the real ``kmon`` console script once (a module-scoped fixture:
importing TensorFlow costs seconds per process) and several tests read the result.
TensorFlow's C++ logging is left on: its lines on fd 2 must not break anything.
"""

from __future__ import annotations

import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from kmon_process import clean_env, kmon_command, run_kmon

import kmon.engine.log.eventlog
from kmon.engine.events import EpochEnd, Event, Log, Notice, RunEnd, RunStart
from kmon.engine.log.eventlog import read_events

NO_TRAINING = "no training was seen"
ENGINE_DIR = Path(kmon.engine.log.eventlog.__file__).resolve().parent

TRAIN_SCRIPT = """\
import sys

import keras
import numpy as np

print("script argv:", sys.argv[1:], flush=True)
print("script says this on stderr", file=sys.stderr, flush=True)
keras.utils.set_random_seed(0)
x = np.random.default_rng(0).normal(size=(64, 4)).astype("float32")
y = x.sum(axis=1, keepdims=True)
model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
model.compile(optimizer="sgd", loss="mse")
model.fit(x, y, batch_size=16, epochs=2, validation_split=0.25)
print("script finished training")
"""

# One script, three endings, picked by its first argument.
ENDINGS_SCRIPT = """\
import sys


def explode():
    raise ValueError("the script gave up on purpose")


print("script starts", flush=True)
mode = sys.argv[1]
if mode == "raise":
    explode()
elif mode == "exit":
    sys.exit(3)
print("script ends without training", flush=True)
"""


@dataclass
class Run:
    """One finished ``kmon`` process and the event log it wrote."""

    result: subprocess.CompletedProcess[str]
    cwd: Path
    log: Path | None

    @property
    def stdout_lines(self) -> list[str]:
        return self.result.stdout.splitlines()

    def events(self) -> list[Event]:
        assert self.log is not None and self.log.is_file(), f"no event log at {self.log}"
        events, report = read_events(self.log)
        assert report.skipped == 0, report
        return events

    def describe(self) -> str:
        r = self.result
        return f"exit {r.returncode}\n--- stdout\n{r.stdout}\n--- stderr\n{r.stderr}"


def kmon_run(cwd: Path, *args: str, log: str | None = None) -> Run:
    """Run ``kmon`` with stdout piped (no terminal, so headless)."""
    return Run(run_kmon(*args, cwd=cwd, timeout=180), cwd, cwd / log if log else None)


def index_of(lines: list[str], predicate) -> int:
    for number, line in enumerate(lines):
        if predicate(line):
            return number
    raise AssertionError("no matching line")


# --------------------------------------------------------------------- a good run


@pytest.fixture(scope="module")
def ok_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    cwd = tmp_path_factory.mktemp("headless-ok")
    (cwd / "train.py").write_text(TRAIN_SCRIPT, encoding="utf-8")
    return kmon_run(
        cwd, "train", "--log", "run.jsonl", "train.py", "--flag", "value", log="run.jsonl"
    )


def test_ok_run_exits_zero(ok_run: Run) -> None:
    assert ok_run.result.returncode == 0, ok_run.describe()
    assert "Traceback" not in ok_run.result.stderr, ok_run.describe()


def test_ok_run_passes_script_output_through(ok_run: Run) -> None:
    out, err = ok_run.result.stdout, ok_run.result.stderr
    assert "script argv: ['--flag', 'value']" in out, ok_run.describe()
    assert "script finished training" in out
    assert "script says this on stderr" in err
    assert "script says this on stderr" not in out


def test_ok_run_prints_epoch_lines_and_summary(ok_run: Run) -> None:
    lines = ok_run.stdout_lines
    epoch_1 = index_of(lines, lambda line: line.startswith("[kmon] epoch 1/2"))
    epoch_2 = index_of(lines, lambda line: line.startswith("[kmon] epoch 2/2"))
    after_fit = lines.index("script finished training")
    assert epoch_1 < epoch_2 < after_fit, ok_run.describe()
    assert "loss=" in lines[epoch_2]
    summary = lines[-1]
    assert summary.startswith("[kmon] run ok"), ok_run.describe()
    assert "2 epochs" in summary
    assert "log: run.jsonl" in summary


def test_ok_run_log_records_the_run(ok_run: Run) -> None:
    events = ok_run.events()
    start, end = events[0], events[-1]
    assert isinstance(start, RunStart)
    assert start.argv[1:] == ["--flag", "value"]
    assert Path(start.script or "").name == "train.py"
    assert isinstance(end, RunEnd)
    assert (end.status, end.exit_code, end.error, end.fits) == ("ok", 0, None, 1)
    assert [e.epoch for e in events if isinstance(e, EpochEnd)] == [0, 1]
    assert sum(isinstance(e, RunStart) for e in events) == 1
    assert sum(isinstance(e, RunEnd) for e in events) == 1
    stdout_lines = [e.text for e in events if isinstance(e, Log) and e.stream == "stdout"]
    assert "script argv: ['--flag', 'value']" in stdout_lines
    assert "script finished training" in stdout_lines


def replay(cwd: Path, log: str) -> subprocess.CompletedProcess:
    """``kmon replay LOG`` with no terminal: the summary printed."""
    return run_kmon("replay", log, cwd=cwd, timeout=60)


def test_replay_of_the_log_summarizes_it(ok_run: Run) -> None:
    result = replay(ok_run.cwd, "run.jsonl")
    assert result.returncode == 0, result.stderr
    assert "[kmon] epoch 2/2" in result.stdout
    assert result.stdout.splitlines()[-1].startswith("[kmon] run ok")
    assert "script finished training" in result.stdout


def test_replay_of_a_log_cut_short_says_the_run_did_not_end_there(ok_run: Run) -> None:
    lines = (ok_run.cwd / "run.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)
    cut = "".join(lines[: len(lines) // 2]) + lines[len(lines) // 2][:20]  # mid-line
    (ok_run.cwd / "cut.jsonl").write_text(cut, encoding="utf-8")
    result = replay(ok_run.cwd, "cut.jsonl")
    assert result.returncode == 0, result.stderr
    summary = result.stdout.splitlines()[-1]
    assert summary.startswith("[kmon] the log ends before the run did (no run_end) · ")
    assert result.stderr.startswith(
        f"kmon: skipped 1 unreadable line(s) (first: line {len(lines) // 2 + 1}: not a kmon "
        "event) · in cut.jsonl\n"
    )


# ------------------------------------------------------------------ a script raising


@pytest.fixture(scope="module")
def failed_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    cwd = tmp_path_factory.mktemp("headless-raise")
    (cwd / "endings.py").write_text(ENDINGS_SCRIPT, encoding="utf-8")
    return kmon_run(cwd, "train", "--log", "run.jsonl", "endings.py", "raise", log="run.jsonl")


def test_failing_script_exits_one_with_its_traceback(failed_run: Run) -> None:
    result = failed_run.result
    assert result.returncode == 1, failed_run.describe()
    assert "script starts" in result.stdout
    assert "Traceback (most recent call last)" in result.stderr
    assert "endings.py" in result.stderr
    assert "in explode" in result.stderr
    assert "ValueError: the script gave up on purpose" in result.stderr
    assert failed_run.stdout_lines[-1].startswith("[kmon] run failed"), failed_run.describe()


def test_failing_script_log_ends_failed_with_error(failed_run: Run) -> None:
    events = failed_run.events()
    assert isinstance(events[0], RunStart)
    end = events[-1]
    assert isinstance(end, RunEnd)
    assert (end.status, end.exit_code) == ("failed", 1)
    assert end.error is not None
    assert "ValueError" in end.error["message"]
    assert "endings.py" in end.error["traceback"]


def test_failing_script_traceback_starts_in_the_script(failed_run: Run) -> None:
    """Neither kmon's frames nor runpy's ("<frozen runpy>" on 3.11+) come first."""
    traceback = failed_run.result.stderr.split("Traceback (most recent call last):", 1)[1]
    first_frame = traceback.splitlines()[1]
    assert "endings.py" in first_frame, traceback
    assert "runpy" not in traceback
    assert str(ENGINE_DIR) not in traceback


# ---------------------------------------------------------------- sys.exit(3)


@pytest.fixture(scope="module")
def exit_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    cwd = tmp_path_factory.mktemp("headless-exit")
    (cwd / "endings.py").write_text(ENDINGS_SCRIPT, encoding="utf-8")
    return kmon_run(cwd, "train", "--log", "run.jsonl", "endings.py", "exit", log="run.jsonl")


def test_sys_exit_code_is_kmons_exit_code(exit_run: Run) -> None:
    assert exit_run.result.returncode == 3, exit_run.describe()
    assert "Traceback" not in exit_run.result.stderr
    end = exit_run.events()[-1]
    assert isinstance(end, RunEnd)
    assert end.exit_code == 3
    assert end.status == "failed"


# ------------------------------------------- no fit() at all, default log location


@pytest.fixture(scope="module")
def no_fit_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    cwd = tmp_path_factory.mktemp("headless-nofit")
    (cwd / "endings.py").write_text(ENDINGS_SCRIPT, encoding="utf-8")
    run = kmon_run(cwd, "train", "endings.py", "quiet")
    logs = sorted((cwd / "kmon-runs").glob("*.jsonl")) if (cwd / "kmon-runs").is_dir() else []
    run.log = logs[0] if len(logs) == 1 else None
    return run


def test_no_fit_exits_zero_with_a_note(no_fit_run: Run) -> None:
    assert no_fit_run.result.returncode == 0, no_fit_run.describe()
    out = no_fit_run.result.stdout
    assert NO_TRAINING in out, no_fit_run.describe()
    assert "script ends without training" in out
    assert no_fit_run.stdout_lines[-1].startswith("[kmon] run ok")


def test_default_log_goes_to_kmon_runs_in_cwd(no_fit_run: Run) -> None:
    folder = no_fit_run.cwd / "kmon-runs"
    logs = sorted(folder.glob("*.jsonl")) if folder.is_dir() else []
    assert len(logs) == 1, f"expected one log under {folder}, found {logs}"
    log = logs[0]
    assert "endings" in log.name
    assert f"log: kmon-runs/{log.name}" in no_fit_run.stdout_lines[-1]
    events = no_fit_run.events()
    assert isinstance(events[0], RunStart)
    end = events[-1]
    assert isinstance(end, RunEnd)
    assert (end.status, end.exit_code, end.fits) == ("ok", 0, 0)
    assert any(isinstance(e, Notice) and NO_TRAINING in e.text for e in events)


def test_no_fit_note_comes_after_the_scripts_output(no_fit_run: Run) -> None:
    lines = no_fit_run.stdout_lines
    note = index_of(lines, lambda line: NO_TRAINING in line)
    assert note > lines.index("script ends without training"), no_fit_run.describe()


LONG_FIT_SCRIPT = """\
import keras
import numpy as np

x = np.random.default_rng(0).normal(size=(4096, 4)).astype("float32")
y = x.sum(axis=1, keepdims=True)
model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
model.compile(optimizer="sgd", loss="mse")
print("training", flush=True)
model.fit(x, y, batch_size=4, epochs=200, verbose=0)
"""


def test_sigterm_is_acknowledged_at_once_before_the_stopped_fit_ends(tmp_path) -> None:
    """The headless loop sleeps until news; a SIGTERM rings it awake, so its line
    comes before the stopped fit's own lines, not at the loop's next wake."""
    (tmp_path / "long_fit.py").write_text(LONG_FIT_SCRIPT)
    kmon = subprocess.Popen(
        [*kmon_command(), "train", "--headless", "--log", "run.jsonl", "long_fit.py"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
        text=True,
        env=clean_env(),
    )
    lines, said = [], None
    try:
        for line in kmon.stdout:
            lines.append(line.rstrip("\n"))
            if line.startswith("[kmon] epoch 1/200"):
                break
        kmon.send_signal(signal.SIGTERM)
        sent = time.monotonic()
        for line in kmon.stdout:
            lines.append(line.rstrip("\n"))
            if line.startswith("[kmon] SIGTERM:"):
                said = time.monotonic() - sent
        assert kmon.wait(60) == 0
    finally:
        kmon.kill()
    text = "\n".join(lines)
    acknowledged = index_of(lines, lambda line: line.startswith("[kmon] SIGTERM: stopping"))
    stopped = index_of(lines, lambda line: "stopped early" in line)
    assert acknowledged < stopped, text
    assert said is not None and said < 0.45, (
        said,
        text,
    )  # the loop sleeps up to 0.5 s between wakes
