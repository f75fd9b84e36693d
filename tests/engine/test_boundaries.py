"""The architecture rules, enforced: engine/ never imports textual, scenarios/ build
models only, and nothing generic lands at the top level of site-packages."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from locations import ROOT


def _python(code: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def test_engine_imports_no_textual(tmp_path):
    modules = sorted(
        ".".join(p.relative_to(ROOT / "engine").with_suffix("").parts).removesuffix(".__init__")
        for p in (ROOT / "engine").rglob("*.py")
    )
    modules = [name for name in modules if name != "__init__"]
    assert "training.callback" in modules and "run.session" in modules
    code = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module('kmon.engine.' + name)\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'kmon'))))\n"
    )
    result = _python(code, tmp_path)
    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert "kmon.engine.run.session" in loaded
    assert not [name for name in loaded if name.startswith("textual")]
    assert not [name for name in loaded if name.startswith("kmon.tui")]


def test_scenarios_import_neither_engine_nor_ui_nor_keras(tmp_path):
    code = (
        "import json, sys\n"
        "import kmon.scenarios\n"
        "print(json.dumps(sorted(m for m in sys.modules"
        " if m.split('.')[0] in ('textual', 'keras', 'tensorflow') or m.startswith('kmon.'))))\n"
    )
    result = _python(code, tmp_path)
    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert "kmon.scenarios" in loaded
    # Listing scenarios must stay instant: keras is imported only when one trains.
    assert [m for m in loaded if not m.startswith("kmon.scenarios")] == []


def test_no_generic_top_level_names(tmp_path):
    code = (
        "import importlib.util, json\n"
        "print(json.dumps({name: importlib.util.find_spec(name) is not None"
        " for name in ('engine', 'tui', 'scenarios', 'kmon.engine', 'kmon.tui', 'kmon.scenarios')}))\n"
    )
    result = _python(code, tmp_path)
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout.strip().splitlines()[-1])
    assert found == {
        "engine": False,
        "tui": False,
        "scenarios": False,
        "kmon.engine": True,
        "kmon.tui": True,
        "kmon.scenarios": True,
    }


@pytest.mark.e2e
def test_wheel_installs_everything_under_kmon(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    (wheel,) = tmp_path.glob("kmon-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    packages = {name.split("/")[0] for name in names if not name.startswith("kmon-")}
    assert packages == {"kmon"}
    for required in (
        "kmon/cli.py",
        "kmon/commands/training.py",
        "kmon/engine/training/callback.py",
        "kmon/tui/app.py",
        "kmon/tui/monitor.tcss",
        "kmon/tui/widgets/run_header.py",
        "kmon/scenarios/history_vs_console.py",
    ):
        assert required in names
    assert not [name for name in names if "/tests/" in name or name.startswith("tests/")]
