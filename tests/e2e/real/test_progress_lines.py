"""A script's own progress lines reach the terminal under ``kmon train --headless``
as under ``python``: byte for byte, as they come (engine/run/output_through.py).

Found by a user-style trial (2026-12-05): headless kmon printed the script's
output from its log lines, so a ``\\r`` progress line became a stack of lines
with states missing, CRLF lost its CR, a stderr bar collapsed to its last state
and a last line without a newline got one.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from kmon_process import clean_env, kmon_command
from locations import REAL

from kmon.engine.log.eventlog import read_events

SCRIPT = REAL / "progress_lines.py"
#: What kmon adds after the script's output with --quiet: its summary, on a line
#: of its own (the script's last line has no newline).
KMON_TAIL = re.compile(rb"\n(\[kmon\] [^\n]*\n)+")


def _run(command: list[str], cwd) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        command,
        cwd=cwd,
        capture_output=True,
        timeout=180,
        stdin=subprocess.DEVNULL,
        env=clean_env(),
    )


def _bar(stderr: bytes) -> bytes:
    """The script's stderr bar, from its first state to its line's end."""
    start = stderr.index(b"\rloading")
    return stderr[start : stderr.index(b"\n", start) + 1]


def test_redirected_output_is_the_scripts_byte_for_byte(tmp_path):
    (tmp_path / "python").mkdir()
    (tmp_path / "kmon").mkdir()
    plain = _run([sys.executable, str(SCRIPT), "."], tmp_path / "python")
    assert plain.returncode == 0, plain.stderr[-3000:]
    log = tmp_path / "run.jsonl"
    under_kmon = _run(
        [*kmon_command(), "train", "--headless", "--quiet", "--log", str(log), str(SCRIPT), "."],
        tmp_path / "kmon",
    )
    assert under_kmon.returncode == 0, under_kmon.stderr[-3000:]
    out = under_kmon.stdout
    assert out.startswith(plain.stdout), (plain.stdout, out)
    assert plain.stdout.endswith(b"saved to ./classifier.keras")  # no newline
    assert KMON_TAIL.fullmatch(out[len(plain.stdout) :]), out
    assert b"columns: id,f0,f1,f2,f3,f4,f5,f6,f7,label\r\n" in out
    assert _bar(under_kmon.stderr) == _bar(plain.stderr)
    # The log has the same output as lines: what a terminal would show of each.
    events, _ = read_events(log)
    texts = [event.text for event in events if event.type == "log"]
    assert "preparing shard 4/4" in texts
    assert "columns: id,f0,f1,f2,f3,f4,f5,f6,f7,label" in texts
    assert "loading 100%|##########|" in texts
    assert texts[-1] == "saved to ./classifier.keras"


def test_a_progress_line_is_redrawn_in_place_on_a_terminal(tmp_path):
    pytest.importorskip("pexpect", reason="pexpect is needed for the pty tests")
    pytest.importorskip("pyte", reason="pyte is needed for the pty tests")
    from pty_helpers import Terminal

    term = Terminal(["train", "--headless", str(SCRIPT), "."], cwd=tmp_path, rows=40, cols=120)
    try:
        assert term.wait_for_exit(180) == 0
    finally:
        term.kill()
    lines = [line.rstrip() for line in term.screen.display]
    # One line, redrawn: its states came 0.6 s apart, more than the 0.5 s after
    # which the log takes a partial line as one.
    assert [line for line in lines if "preparing shard" in line] == ["preparing shard 4/4"]
    assert [line for line in lines if "loading" in line] == ["loading 100%|##########|"]
    # kmon's lines for the fit come in order with the script's, each on its own line.
    last_epoch = next(i for i, line in enumerate(lines) if line.startswith("[kmon] epoch 2/2"))
    trained = lines.index("trained on 320 rows")
    assert last_epoch < trained, "\n".join(lines)
    summary = next(i for i, line in enumerate(lines) if line.startswith("[kmon] run ok"))
    assert lines[summary - 1] == "saved to ./classifier.keras", "\n".join(lines)
