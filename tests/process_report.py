"""What a process that did not exit is doing, for a test's failure message: a hang
that shows once in a CI run must say where it hung, since it may not show again."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import psutil

#: How long py-spy may take over one process's stacks.
DUMP_SECONDS = 20


def process_report(pid: int) -> str:
    """Each process of ``pid``'s tree: its state, command, and each thread's name
    and kernel wait channel, plus its Python stacks when py-spy is installed."""
    try:
        root = psutil.Process(pid)
        tree = [root, *root.children(recursive=True)]
    except psutil.Error as exc:
        return f"process {pid}: {exc}"
    return "\n".join(_one(process) for process in tree)


def _one(process: psutil.Process) -> str:
    try:
        lines = [f"process {process.pid} ({process.status()}): {' '.join(process.cmdline())}"]
    except psutil.Error as exc:
        return f"process {process.pid}: {exc}"
    for task in sorted(Path(f"/proc/{process.pid}/task").glob("*")):
        lines.append(
            f"  thread {task.name} {_read(task / 'comm')}: waits in {_read(task / 'wchan')}"
        )
    spy = shutil.which("py-spy")
    if spy:  # a process that is not Python's: py-spy says so, at once
        try:
            dump = subprocess.run(
                [spy, "dump", "--pid", str(process.pid)],
                capture_output=True,
                text=True,
                timeout=DUMP_SECONDS,
            )
            lines.append(dump.stdout + dump.stderr)
        except (OSError, subprocess.SubprocessError) as exc:
            lines.append(f"  py-spy: {exc}")
    return "\n".join(lines)


def _read(path: Path) -> str:
    try:
        return path.read_text().strip() or "-"
    except OSError:
        return "?"
