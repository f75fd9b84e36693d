"""What kmon can run: a user's script, as ``python script.py`` would run it, or a
Python callable (a bundled scenario). Each says what its run is (``run_start``) and
runs it (``execute``); :class:`~kmon.engine.run.runner.TrainingRun` calls both."""

from __future__ import annotations

import os
import runpy
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from kmon.engine.errors import ScriptError
from kmon.engine.events import RunStart
from kmon.engine.log.process_identity import of_this_process


@dataclass
class ScriptTarget:
    """An unmodified ``python script.py args...``, run as ``__main__``."""

    path: Path
    argv: list[str] = field(default_factory=list)

    @classmethod
    def checked(cls, path: str, argv: list[str]) -> ScriptTarget:
        """Validate before anything starts, so errors are one clear line.

        Raises:
            ScriptError: missing, unreadable, not Python, or a syntax error.
        """
        script = Path(path)
        if not script.exists():
            raise ScriptError(f"no such script: {path}")
        if not script.is_file():
            raise ScriptError(f"not a file: {path}")
        try:
            source = script.read_bytes()
        except OSError as exc:
            raise ScriptError(f"cannot read {path}: {exc.strerror}") from None
        if b"\0" in source:
            raise ScriptError(f"not a Python script (binary file): {path}")
        try:
            compile(source, str(script), "exec")
        except SyntaxError as exc:
            where = f"line {exc.lineno}" if exc.lineno else "unknown line"
            raise ScriptError(f"syntax error in {path} ({where}): {exc.msg}") from None
        except ValueError as exc:
            raise ScriptError(f"not a Python script: {path} ({exc})") from None
        return cls(script.resolve(), list(argv))

    @property
    def name(self) -> str:
        return self.path.name

    def run_start(self) -> RunStart:
        from kmon.engine.training.distribute import cluster_task

        task = cluster_task()
        process = of_this_process()
        return RunStart(
            script=str(self.path),
            argv=[str(self.path), *self.argv],
            pid=process.pid,
            start_time=process.start_time,
            boot_id=process.boot_id,
            cwd=os.getcwd(),
            task=task.label if task is not None else None,
        )

    def execute(self) -> None:
        saved_argv, saved_path = sys.argv, list(sys.path)
        sys.argv = [str(self.path), *self.argv]
        sys.path.insert(0, str(self.path.parent))
        try:
            runpy.run_path(str(self.path), run_name="__main__")
        finally:
            sys.argv = saved_argv
            sys.path[:] = saved_path


@dataclass
class CallableTarget:
    """A Python callable that trains, e.g. a bundled scenario."""

    name: str
    function: Callable[[], object]
    scenario: str | None = None
    variant: str | None = None

    @classmethod
    def for_scenario(cls, scenario, variant: str) -> CallableTarget:
        """A bundled or user scenario (anything with ``name`` and ``train(variant)``)."""
        return cls(
            name=f"{scenario.name}-{variant}",
            function=lambda: scenario.train(variant),
            scenario=scenario.name,
            variant=variant,
        )

    def run_start(self) -> RunStart:
        process = of_this_process()
        return RunStart(
            scenario=self.scenario or self.name,
            variant=self.variant,
            argv=list(sys.argv),
            pid=process.pid,
            start_time=process.start_time,
            boot_id=process.boot_id,
            cwd=os.getcwd(),
        )

    def execute(self) -> None:
        self.function()
