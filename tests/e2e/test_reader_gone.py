"""``kmon train --headless script.py | head``: the reader of the script's output goes
away. Under ``python`` the script's next ``print`` raises ``BrokenPipeError`` and
the run ends with 1; under kmon the output after it is dropped from the screen, not
from the event log, and the run goes on to its end (docs/commands.md, --headless)."""

from __future__ import annotations

import subprocess
import sys

from kmon_process import clean_env, kmon_command

from kmon.engine.log.eventlog import read_events

SCRIPT = """\
for i in range(20000):
    print(f"line {i}")
open("finished.txt", "w").write("the script ran to its end")
"""


def _head(command: list[str], cwd) -> int:
    """Run ``command`` with its stdout read for two lines and then closed, as
    ``| head -2`` does; its exit code."""
    process = subprocess.Popen(
        command, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL, env=clean_env(),
    )  # fmt: skip
    assert process.stdout.readline() == b"line 0\n"
    assert process.stdout.readline() == b"line 1\n"
    process.stdout.close()
    return process.wait(timeout=120)


def test_a_reader_gone_ends_python_but_not_a_kmon_run(tmp_path):
    plain, under_kmon = tmp_path / "plain", tmp_path / "kmon"
    for folder in (plain, under_kmon):
        folder.mkdir()
        (folder / "many_lines.py").write_text(SCRIPT)
    assert _head([sys.executable, "many_lines.py"], plain) == 1
    assert not (plain / "finished.txt").exists()
    command = [*kmon_command(), "train", "--headless", "--log", "run.jsonl", "many_lines.py"]
    assert _head(command, under_kmon) == 0
    assert (under_kmon / "finished.txt").exists()
    events, _ = read_events(under_kmon / "run.jsonl")
    lines = [e.text for e in events if e.type == "log" and e.stream == "stdout"]
    assert lines == [f"line {i}" for i in range(20000)]
    assert events[-1].type == "run_end" and events[-1].status == "ok"
