"""The ``kmon`` command's answers to bad input: one clear line, no traceback.

Every case runs the installed ``kmon`` console script in a subprocess with no
terminal. None of them should need TensorFlow, so they are fast; the last test
checks that none of them imports it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from kmon_process import clean_env, kmon_command, run_kmon

from kmon.scenarios import SCENARIOS

SCENARIO = "history_vs_console"
VARIANTS = list(SCENARIOS[SCENARIO].variants)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding one bad input of each kind."""
    root = tmp_path_factory.mktemp("cli-errors")
    (root / "somedir").mkdir()
    (root / "binary.py").write_bytes(bytes(range(256)) * 4)
    (root / "broken.py").write_text("x = 1\ny = 2\ndef f(:\n    pass\n", encoding="utf-8")
    (root / "garbage.jsonl").write_text(
        "this is not json\n{not json either\n\x00\x01\x02\n", encoding="utf-8"
    )
    (root / "ok.py").write_text("print('never runs')\n", encoding="utf-8")
    return root


# (id, kmon arguments, substrings the error line must contain)
ERROR_CASES = [
    ("missing-script", ["train", "missing.py"], ["missing.py"]),
    ("directory", ["train", "somedir/"], ["somedir"]),
    ("binary-file", ["train", "binary.py"], ["binary.py"]),
    ("syntax-error", ["train", "broken.py"], ["broken.py", "line 3"]),
    ("unknown-scenario", ["run", "nope"], ["nope", SCENARIO]),
    ("unknown-variant", ["run", SCENARIO, "--variant", "nope"], ["nope", *VARIANTS]),
    ("missing-log", ["replay", "missing.jsonl"], ["missing.jsonl"]),
    ("log-is-an-empty-directory", ["replay", "somedir"], ["no TensorBoard event files", "somedir"]),
    ("garbage-log", ["replay", "garbage.jsonl"], ["garbage.jsonl"]),
]
# argparse's own errors (it exits from parse_args): one line too, not the usage block.
USAGE_CASES = [
    ("unknown-command", ["nosuchcommand"], ["nosuchcommand", "kmon --help"]),
    ("unknown-option", ["ps", "--bogus"], ["--bogus"]),
]


@pytest.mark.parametrize(
    ("args", "mentions"),
    [pytest.param(args, mentions, id=name) for name, args, mentions in ERROR_CASES + USAGE_CASES],
)
def test_bad_input_is_one_error_line(workdir: Path, args: list[str], mentions: list[str]) -> None:
    result = run_kmon(*args, cwd=workdir)

    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, f"expected one stderr line, got:\n{result.stderr}"
    line = lines[0]
    assert line.startswith("kmon: error:"), line
    for text in mentions:
        assert text in line, f"{text!r} missing from {line!r}"
    assert result.stdout == ""


def test_train_without_a_script_asks_for_the_script_only(workdir: Path) -> None:
    """argparse's usage error, in one line; the script's own arguments are optional."""
    result = run_kmon("train", cwd=workdir)

    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines() == [
        "kmon train: error: the following arguments are required: script (see kmon train --help)"
    ]


def test_list_names_scenarios_and_variants(workdir: Path) -> None:
    result = run_kmon("list", cwd=workdir)

    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert SCENARIO in result.stdout
    for variant in VARIANTS:
        assert f"--variant {variant}" in result.stdout
    assert VARIANTS, "the scenario has no variants"


def test_python_dash_m_kmon_works(workdir: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "kmon", "run", "nope"],
        cwd=workdir,
        env=clean_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("kmon: error: unknown scenario")


def test_error_paths_do_not_import_tensorflow(workdir: Path) -> None:
    """Checking input and listing scenarios must stay instant: no TF, no Keras."""
    argvs = [args for _, args, _ in ERROR_CASES] + [["list"]]
    code = f"""
import contextlib, io, sys
from kmon.cli import main
codes = []
for argv in {argvs!r}:
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        codes.append(main(argv))
print(codes)
print(sorted(name for name in ("tensorflow", "keras", "textual") if name in sys.modules))
"""
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=workdir,
        env=clean_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    codes, imported = result.stdout.splitlines()
    assert codes == repr([2] * len(ERROR_CASES) + [0])
    assert imported == "[]", f"heavy modules imported while checking input: {imported}"


@pytest.mark.parametrize("command", [["list"], ["ps"]])
def test_a_reader_that_went_away_ends_kmon_quietly(workdir: Path, command: list[str]) -> None:
    """`kmon list | head -1`: the pipe's reader is gone before kmon writes."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    program, *prefix = kmon_command()
    try:
        result = subprocess.run(
            [program, *prefix, *command],
            cwd=workdir,
            stdin=subprocess.DEVNULL,
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
    finally:
        os.close(write_end)
    assert "Traceback" not in result.stderr and "Exception ignored" not in result.stderr, (
        result.stderr
    )
    assert result.returncode in (0, 141), result
