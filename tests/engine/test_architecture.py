"""The architecture, enforced from the code's own imports: import-linter's contracts
in pyproject.toml hold (and break when an arrow points the wrong way), and no two
kmon modules import each other, directly or around a loop."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import grimp
import pytest
from locations import ROOT

CI = ROOT / ".ci"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, CI / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


import_view = _load("import_view")
import_cycles = _load("import_cycles")


def _lint_imports(view) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", "import sys; from importlinter.cli import lint_imports_command;"
         " sys.exit(lint_imports_command())", str(ROOT / "pyproject.toml")],
        cwd=view,
        env={"PYTHONPATH": str(view), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_import_contracts_hold():
    result = subprocess.run(
        [str(CI / "lint-imports")], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    kept = [line for line in result.stdout.splitlines() if line.endswith(" KEPT") or " KEPT (" in line]
    assert len(kept) >= 3, result.stdout
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "source", "contract"),
    [
        ("engine/view/breach.py", "import keras\n", "imports no Keras or TensorFlow"),
        ("engine/log/breach.py", "from kmon.engine.run import session\n", "engine layers"),
        ("engine/events_breach.py", "import textual\n", "never imports textual"),
        ("scenarios/breach.py", "from kmon.engine import events\n", "models and data only"),
    ],
)
def test_a_wrong_arrow_breaks_a_contract(tmp_path, module, source, contract):
    view = import_view.build_view(tmp_path, copy=True)
    (view / "kmon" / module).write_text(source)
    result = _lint_imports(view)
    assert result.returncode != 0
    broken = result.stdout.split("Broken contracts")[-1]
    assert contract in broken, result.stdout


def test_no_import_cycles(tmp_path):
    view = import_view.build_view(tmp_path)
    result = subprocess.run(
        [sys.executable, str(CI / "import_cycles.py")],
        cwd=view,
        env={"PYTHONPATH": str(view), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("0 import cycles among ")


def test_the_cycle_finder_finds_cycles():
    graph = grimp.ImportGraph()
    for importer, imported in [
        ("kmon.a", "kmon.b"),
        ("kmon.b", "kmon.a"),  # a two-module cycle
        ("kmon.c", "kmon.d"),
        ("kmon.d", "kmon.e"),
        ("kmon.e", "kmon.c"),  # around a loop of three
        ("kmon.e", "kmon.f"),  # a plain arrow out of it
    ]:
        graph.add_import(importer=importer, imported=imported)
    assert import_cycles.cycles(graph) == [["kmon.a", "kmon.b"], ["kmon.c", "kmon.d", "kmon.e"]]
