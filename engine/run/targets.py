"""What kmon can run: a user's script, as ``python script.py`` would run it, a module,
as ``python -m package.module`` would, or a Python callable (a bundled scenario). Each says what its run is (``run_start``) and
runs it (``execute``); :class:`~kmon.engine.run.runner.TrainingRun` calls both."""

from __future__ import annotations

import contextlib
import importlib.machinery
import importlib.util
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from kmon.engine.errors import ScriptError
from kmon.engine.events import RunStart
from kmon.engine.log.process_identity import of_this_process
from kmon.engine.run.main_module import main_namespace, module_code, script_code


@dataclass
class ScriptTarget:
    """An unmodified ``python script.py args...``, run as ``__main__``."""

    path: Path
    """The script, absolute, its symbolic links kept: Python's ``__file__``."""
    argv: list[str] = field(default_factory=list)
    given: str | None = None
    """The script's path as typed (``sys.argv[0]``); None: :attr:`path`."""

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
        # As Python names it: __file__ absolute but a symbolic link kept (a script
        # linked into an experiment's folder reads the files beside the link).
        return cls(Path(os.path.abspath(script)), list(argv), given=path)

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

    def execute(self, then: Callable[[BaseException | None], None] | None = None) -> None:
        """Run the script; ``then(raised)`` after its code (:func:`_after_code`)."""
        # exec in this frame, as runpy.run_path would run it (see main_module).
        path = str(self.path)
        with self._as_main(), main_namespace(path) as space, _after_code(then):
            exec(script_code(path), space)  # noqa: S102 - running the user's script is the job

    def _as_main(self) -> contextlib.AbstractContextManager[None]:
        """``sys.argv`` as typed and ``sys.path[0]`` the folder of the file a
        symbolic link leads to, as ``python script.py`` sets them (here, not in
        :meth:`execute`, whose frame stays short: see :func:`_as_main`)."""
        first = os.path.dirname(os.path.realpath(self.path))
        return _as_main([self.given or str(self.path), *self.argv], first)


@dataclass
class ModuleTarget:
    """An unmodified ``python -m package.module args...``: ``sys.path[0]`` is the
    working directory, ``sys.argv[0]`` the module's file, and the module (a
    package's ``__main__``) runs as ``__main__``, as :func:`runpy.run_module`
    runs it for Python's ``-m`` (see :mod:`~kmon.engine.run.main_module`)."""

    module: str
    path: Path
    """The file that runs: the module's, or the package's ``__main__.py``."""
    argv: list[str] = field(default_factory=list)

    @classmethod
    def checked(cls, module: str, argv: list[str]) -> ModuleTarget:
        """Find the module without running any of its code (nor its packages'), so
        errors are one clear line before anything starts.

        Raises:
            ScriptError: no such module, a package without ``__main__``, or a
                module with no source file kmon can run.
        """
        if (
            not module
            or module.startswith(".")
            or not all(part.isidentifier() for part in module.split("."))
        ):
            raise ScriptError(f"not a module name: {module!r}")
        search = [os.getcwd(), *sys.path]
        spec = _find_spec(module, search)
        if spec is None:
            raise ScriptError(f"no module named {module}")
        if spec.submodule_search_locations is not None:  # a package: its __main__
            main = _find_spec(f"{module}.__main__", search)
            if main is None:
                raise ScriptError(
                    f"{module} is a package and cannot be directly executed (it has no "
                    "__main__ module)"
                )
            spec = main
        if not spec.origin or not os.path.isfile(spec.origin):
            raise ScriptError(f"{module} has no source file to run ({spec.origin})")
        return cls(module, Path(spec.origin).resolve(), list(argv))

    @property
    def name(self) -> str:
        return self.module

    def run_start(self) -> RunStart:
        start = ScriptTarget(self.path, self.argv).run_start()
        start.module = self.module
        return start

    def execute(self, then: Callable[[BaseException | None], None] | None = None) -> None:
        """Run the module; ``then(raised)`` after its code (:func:`_after_code`)."""
        # argv[0] is "-m" while the parent packages import, then the module's file,
        # as with -m; exec in this frame, as runpy.run_module would run it.
        with _as_main(["-m", *self.argv], os.getcwd()):
            code, spec = module_code(self.module)
            sys.argv[0] = spec.origin or str(self.path)
            with main_namespace(sys.argv[0], spec) as space, _after_code(then):
                exec(code, space)  # noqa: S102 - running the user's module is the job


@contextlib.contextmanager
def _after_code(then: Callable[[BaseException | None], None] | None) -> Iterator[None]:
    """``then(raised)`` after the ``with`` body, which runs the script's code and
    ``raised`` or not (None). Innermost, so still inside the script's ``__main__``,
    ``sys.argv`` and ``sys.path``: what Python does after the main module's code
    (wait for its threads) happens while those are still the script's, and its
    threads read them. The body's exception goes on after ``then``."""
    try:
        yield
    except BaseException as raised:
        if then is not None:
            then(raised)
        raise
    if then is not None:
        then(None)


@contextlib.contextmanager
def _as_main(argv: list[str], first_path: str) -> Iterator[None]:
    """``sys.argv`` and ``sys.path[0]`` as Python sets them for ``__main__``, for the
    ``with`` body; restored after it.

    The script's frames sit on the frame that runs the body, and TensorFlow walks
    the whole stack at every eager op, reading each frame's line from its code's
    start (see ``FitHook.monitor_fit``): so the setting up is done here, and the
    ``execute`` frames reach the script's code in a few instructions."""
    saved_argv, saved_path = sys.argv, list(sys.path)
    sys.argv = argv
    sys.path.insert(0, first_path)
    try:
        yield
    finally:
        sys.argv = saved_argv
        sys.path[:] = saved_path


def _find_spec(module: str, path: list[str]) -> importlib.machinery.ModuleSpec | None:
    """``module``'s spec, found on ``path`` without importing (so without running)
    its parent packages, as importing it would find it; None when it is not there.
    A top-level name not on ``path`` (built-in, frozen, an editable install's) is
    looked up by Python's own finders, which run no module code for it."""
    parts = module.split(".")
    spec = importlib.machinery.PathFinder.find_spec(parts[0], path)
    if spec is None:
        try:
            spec = importlib.util.find_spec(parts[0])
        except (ImportError, ValueError):
            return None
    for depth in range(1, len(parts)):
        if spec is None or spec.submodule_search_locations is None:
            return None
        spec = importlib.machinery.PathFinder.find_spec(
            ".".join(parts[: depth + 1]), list(spec.submodule_search_locations)
        )
    return spec


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

    def execute(self, then: Callable[[BaseException | None], None] | None = None) -> None:
        with _after_code(then):
            self.function()
