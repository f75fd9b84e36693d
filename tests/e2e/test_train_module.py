"""`kmon train -m package.module ARGS`: a module run as `python -m` runs it, and the
one-line errors for a module that is missing or cannot be run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from kmon_process import run_kmon

from kmon.engine.log.eventlog import read_events

MAIN = """\
import json, os, sys
import numpy as np
import keras

print("SEEN " + json.dumps({"argv": sys.argv, "path0": sys.path[0], "name": __name__,
                            "package": __package__}))
model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
model.compile("adam", "mse")
x = np.random.default_rng(0).normal(size=(64, 4))
model.fit(x, x[:, :1], epochs=int(sys.argv[2]), batch_size=16, verbose=0)
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A working folder with a package whose ``__main__`` trains, a package
    without one, and a module whose package prints on import."""
    root = tmp_path_factory.mktemp("module-run")
    (root / "trainer").mkdir()
    (root / "trainer" / "__init__.py").write_text("")
    (root / "trainer" / "__main__.py").write_text(MAIN)
    (root / "nomain").mkdir()
    (root / "nomain" / "__init__.py").write_text("")
    return root


def test_a_package_runs_as_python_m_runs_it(project: Path) -> None:
    log = project / "run.jsonl"
    result = run_kmon(
        "train", "--headless", "--log", str(log), "-m", "trainer", "--epochs", "2", cwd=project
    )

    assert result.returncode == 0, result.stderr
    seen = json.loads(next(line for line in result.stdout.splitlines() if "SEEN " in line)[5:])
    # As `python -m trainer --epochs 2` sets them.
    assert seen["argv"] == [str(project / "trainer" / "__main__.py"), "--epochs", "2"]
    assert seen["path0"] == str(project)
    assert seen["name"] == "__main__"
    assert seen["package"] == "trainer"
    events, report = read_events(log)
    assert report.skipped == 0
    start = events[0]
    assert start.type == "run_start"
    assert start.module == "trainer"
    assert start.script == str(project / "trainer" / "__main__.py")
    assert [e.epoch for e in events if e.type == "epoch_end"] == [0, 1]
    assert events[-1].type == "run_end" and events[-1].status == "ok"
    ps = run_kmon("ps", "--runs-dir", str(project), cwd=project)
    assert "-m trainer" in ps.stdout


def test_a_dotted_module_of_a_package(project: Path) -> None:
    (project / "trainer" / "job.py").write_text(MAIN)
    log = project / "job.jsonl"
    result = run_kmon(
        "train", "--headless", "--log", str(log), "-m", "trainer.job", "-e", "1", cwd=project
    )

    assert result.returncode == 0, result.stderr
    seen = json.loads(next(line for line in result.stdout.splitlines() if "SEEN " in line)[5:])
    assert seen["argv"] == [str(project / "trainer" / "job.py"), "-e", "1"]
    assert seen["package"] == "trainer"
    events, _ = read_events(log)
    assert events[0].module == "trainer.job"


@pytest.mark.parametrize(
    ("module", "message"),
    [
        ("no_such_module", "no module named no_such_module"),
        ("trainer.no_such", "no module named trainer.no_such"),
        ("nomain", "nomain is a package and cannot be directly executed"),
        ("not-a-name", "not a module name"),
    ],
)
def test_a_module_that_cannot_run_is_one_line_and_exit_2(
    project: Path, module: str, message: str
) -> None:
    result = run_kmon("train", "--runs-dir", "never", "-m", module, cwd=project)

    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"kmon: error: {message}"), result.stderr
    assert "Traceback" not in result.stderr
    assert not (project / "never").exists()  # nothing was started


def test_m_without_a_module_is_a_usage_error(project: Path) -> None:
    result = run_kmon("train", "-m", cwd=project)

    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == (
        "kmon train: error: argument -m: expected a module name (see kmon train --help)"
    )
