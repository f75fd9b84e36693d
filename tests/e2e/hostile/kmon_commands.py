"""The real ``kmon`` command as the hostile tests run it, and kmon's rule for bad
input checked in one place."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from kmon_process import kmon_command


def run_kmon(
    *args: str,
    cwd: Path,
    timeout: float = 120,
    user: int | None = None,
    umask: int | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess:
    """The real ``kmon`` command with no stdin; ``user`` runs it as that uid (root
    only, through setpriv), ``umask`` under that umask."""
    program, *prefix = kmon_command()
    command = [program, *prefix, *args]
    if user is not None:
        command = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", *command]
    return subprocess.run(
        command,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        env=env,
        preexec_fn=None if umask is None else (lambda: os.umask(umask)),
    )


def assert_one_line_error(result: subprocess.CompletedProcess, *mentions: str) -> str:
    """One line on stderr, exit code 2, no traceback; returns the line."""
    assert result.returncode == 2, result
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    for mention in mentions:
        assert mention in lines[0], lines[0]
    return lines[0]
