"""The corpus of real scripts (``tests/data/real/``) run under the real ``kmon train``.

Each script is written the way users write them (keras-io examples and guides),
with small synthetic data and no downloads. A script runs once per test session,
headless, with its event log kept: every test about it reads the same run. A new
bug found by trying a script as a user would adds its script here.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from kmon_process import clean_env, kmon_command
from locations import REAL

from kmon.engine.events import Event
from kmon.engine.log.eventlog import read_events
from kmon.engine.view.state import RunState

#: One corpus script, TensorFlow's import included, on a loaded 2-core machine.
RUN_SECONDS = 180


@dataclass
class RealRun:
    """One corpus script's run under ``kmon train --headless``."""

    script: str
    returncode: int
    stdout: str
    stderr: str
    events: list[Event]
    skipped: int
    """Log lines the reader skipped as invalid (a kmon log has none)."""
    folder: Path
    """Where it ran (its working directory: files the script wrote are there)."""
    state: RunState = field(init=False)

    def __post_init__(self) -> None:
        self.state = RunState()
        self.state.apply_all(self.events)

    def of_type(self, name: str) -> list[Event]:
        return [event for event in self.events if event.type == name]

    @property
    def kmon_lines(self) -> list[str]:
        """The lines kmon itself printed (not the script's)."""
        return [line for line in self.stdout.splitlines() if line.startswith("[kmon]")]


class RealRuns:
    """Runs each (script, options) once per session, in a folder of its own."""

    def __init__(self, root: Path) -> None:
        self._root = root
        self._runs: dict[tuple[str, tuple[str, ...]], RealRun] = {}

    def __call__(
        self,
        script: str,
        *options: str,
        args: tuple[str, ...] = (),
        stdin: str | None = None,
        env: dict[str, str] | None = None,
    ) -> RealRun:
        """Args: ``options`` go to ``kmon train``, ``args`` to the script; ``stdin``
        is piped into the run (else it reads end of file); ``env``: variables set
        for the run on top of the tests' own."""
        key = (script, (*options, "--", *args), stdin, tuple(sorted((env or {}).items())))
        if key not in self._runs:
            self._runs[key] = self._run(script, options, args, stdin, env or {})
        return self._runs[key]

    def clean(self, script: str) -> RealRun:
        """``script``'s plain run, which must exit 0 with a log the reader takes
        whole (most of the corpus: the tests then read what it logged)."""
        run = self(script)
        assert run.returncode == 0, run.stderr[-3000:]
        assert run.skipped == 0
        return run

    def _run(self, script: str, options, args, stdin: str | None, env: dict[str, str]) -> RealRun:
        folder = self._root / f"run{len(self._runs)}"
        folder.mkdir()
        log = folder / "run.jsonl"
        command = [
            *kmon_command(),
            "train",
            "--headless",
            "--log",
            str(log),
            *options,
            str(REAL / script),
            *args,
        ]
        result = subprocess.run(
            command,
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=RUN_SECONDS,
            input=stdin,
            stdin=subprocess.DEVNULL if stdin is None else None,
            env={**clean_env(), **env},
        )
        events, report = read_events(log) if log.exists() else ([], None)
        return RealRun(
            script,
            result.returncode,
            result.stdout,
            result.stderr,
            events,
            report.skipped if report is not None else 0,
            folder,
        )


@pytest.fixture(scope="session")
def real_run(tmp_path_factory) -> RealRuns:
    """``real_run("gan.py")``: that corpus script's run (started on first use)."""
    return RealRuns(tmp_path_factory.mktemp("real"))
