"""kmon's rule for bad input, checked in one place by the hostile tests."""

from __future__ import annotations

import subprocess


def assert_one_line_error(result: subprocess.CompletedProcess, *mentions: str) -> str:
    """One line on stderr, exit code 2, no traceback; returns the line."""
    assert result.returncode == 2, result
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    for mention in mentions:
        assert mention in lines[0], lines[0]
    return lines[0]
