"""How the tests start the real `kmon` command."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def kmon_command() -> list[str]:
    """The console script next to this interpreter, else ``python -m kmon``."""
    script = Path(sys.executable).with_name("kmon")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "kmon"]


def clean_env() -> dict[str, str]:
    """This environment without a fixed terminal size."""
    env = dict(os.environ)
    for name in ("COLUMNS", "LINES"):
        env.pop(name, None)
    return env


def run_kmon(
    *args: str,
    cwd: Path,
    timeout: float = 120,
    user: int | None = None,
    umask: int | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """The real ``kmon ARGS`` to its end, no terminal: stdin empty, output captured.

    Args:
        user: run it as this uid (root only, through setpriv).
        umask: under this umask.
        env: its environment; by default this one, less a fixed terminal size.
    """
    command = kmon_command()
    if user is not None:
        command = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", *command]
    return subprocess.run(
        [*command, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        env=clean_env() if env is None else env,
        preexec_fn=None if umask is None else (lambda: os.umask(umask)),
    )


def run_python(
    script: Path, *args: str, cwd: Path, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    """Plain ``python SCRIPT ARGS`` to its end, as a user runs it without kmon: the
    behaviour a corpus script's kmon run is held to. No terminal, output captured."""
    return subprocess.run(
        [sys.executable, str(script), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        env=clean_env(),
    )
