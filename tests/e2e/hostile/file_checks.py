"""Waiting for, reading and filling up the files a run writes: the helpers of the
hostile tests about logs."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path


def wait_until(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def fill_disk(folder: Path, *, leave: int = 0) -> Path:
    """Fill ``folder``'s filesystem, leaving about ``leave`` bytes free."""
    filler = folder / "filler"
    with open(filler, "wb") as handle:
        try:
            while True:
                info = os.statvfs(folder)
                free = info.f_bavail * info.f_frsize - leave
                if free <= 0:
                    break
                handle.write(b"\0" * min(free, 65536))
                handle.flush()
        except OSError:
            pass
    return filler


def parsed_lines(path: Path) -> list[dict]:
    """Every line of a log as JSON: fails on a damaged line."""
    data = path.read_bytes()
    assert not data or data.endswith(b"\n"), data[-80:]
    return [json.loads(line) for line in data.splitlines()]
