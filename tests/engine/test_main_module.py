"""kmon runs a script's (or a module's) code itself, not through runpy (whose frames
would sit under every eager TensorFlow op): the script must see exactly what
``python script.py`` (or ``python -m module``) gives it. Each test runs one real
script both ways, kmon's in this interpreter and Python's in a fresh one, and
compares what it saw."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from kmon.engine.run.targets import ModuleTarget, ScriptTarget

#: Writes what a script sees of itself to the file named by its first argument.
SEES = """
import json, pickle, re, sys

class Point:
    def __init__(self, x):
        self.x = x

def annotated(x: int) -> str:
    return str(x)

space = globals()
main = sys.modules["__main__"]
here = sys.path[0]
seen = {
    "globals": {
        name: re.sub(" at 0x[0-9a-f]+", "", repr(space.get(name, "<absent>")))
        for name in ("__name__", "__file__", "__cached__", "__doc__", "__loader__",
                     "__package__", "__spec__")
    },
    "module_is_ours": main.__dict__ is space,
    "argv": sys.argv,
    # From __future__ import annotations in kmon's modules must not leak in.
    "annotation": repr(annotated.__annotations__["x"]),
    # Classes defined in __main__ pickle through sys.modules["__main__"].
    "pickled": pickle.loads(pickle.dumps(Point(3))).x,
    "builtins": type(space.get("__builtins__")).__name__,
    "code": sys._getframe().f_code.co_filename,
    "path0": here,
}
with open(sys.argv[1], "w") as handle:
    json.dump(seen, handle)
"""


def _seen(path: Path) -> dict:
    return json.loads(path.read_text())


def _python(args: list[str], cwd: Path) -> None:
    """``python ARGS`` in ``cwd``, as a user runs it."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(
        [sys.executable, *args], cwd=cwd, capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode == 0, done.stderr


def _same(kmon: dict, python: dict) -> None:
    kmon["argv"][-1] = python["argv"][-1]  # the file each writes to
    assert kmon == python
    assert kmon["annotation"] == "<class 'int'>"
    assert kmon["module_is_ours"] and kmon["pickled"] == 3


@pytest.mark.parametrize("linked", [False, True], ids=["file", "symlink"])
def test_a_script_sees_what_python_script_py_gives_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, linked: bool
) -> None:
    # A script linked into an experiment's folder: Python keeps the link in
    # __file__ (the files beside it are the experiment's) and puts the linked
    # file's folder first on sys.path.
    (tmp_path / "common").mkdir()
    (tmp_path / "exp1").mkdir()
    source = tmp_path / "common" / "train.py"
    source.write_text(textwrap.dedent(SEES), encoding="utf-8")
    if linked:
        (tmp_path / "exp1" / "train.py").symlink_to(source)
    else:
        source.rename(tmp_path / "exp1" / "train.py")
    by_python, by_kmon = tmp_path / "python.json", tmp_path / "kmon.json"
    _python(["train.py", str(by_python)], cwd=tmp_path / "exp1")
    monkeypatch.chdir(tmp_path / "exp1")
    main_before, argv_before, path_before = sys.modules["__main__"], list(sys.argv), list(sys.path)

    ScriptTarget.checked("train.py", [str(by_kmon)]).execute()

    kmon, python = _seen(by_kmon), _seen(by_python)
    assert python["argv"][0] == "train.py"
    assert python["globals"]["__file__"] == repr(str(tmp_path / "exp1" / "train.py"))
    assert python["path0"] == str((tmp_path / ("common" if linked else "exp1")).resolve())
    assert python["builtins"] == "module" and python["globals"]["__package__"] == "None"
    _same(kmon, python)
    assert sys.modules["__main__"] is main_before
    assert (sys.argv, sys.path) == (argv_before, path_before)


@pytest.mark.parametrize("name", ["seer", "seer.job"])
def test_a_module_sees_what_python_m_gives_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    (tmp_path / "seer").mkdir()
    (tmp_path / "seer" / "__init__.py").write_text("", encoding="utf-8")
    for file in ("__main__.py", "job.py"):
        (tmp_path / "seer" / file).write_text(textwrap.dedent(SEES), encoding="utf-8")
    by_python, by_kmon = tmp_path / "python.json", tmp_path / "kmon.json"
    _python(["-m", name, str(by_python)], cwd=tmp_path)
    monkeypatch.chdir(tmp_path)
    main_before, argv_before = sys.modules["__main__"], list(sys.argv)

    try:
        ModuleTarget.checked(name, [str(by_kmon)]).execute()
    finally:
        for module in [m for m in sys.modules if m == "seer" or m.startswith("seer.")]:
            del sys.modules[module]

    kmon, python = _seen(by_kmon), _seen(by_python)
    assert python["globals"]["__package__"] == "'seer'"
    _same(kmon, python)
    assert sys.modules["__main__"] is main_before and sys.argv == argv_before


def test_a_module_that_fails_to_import_its_package_raises_the_packages_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "__init__.py").write_text("raise ValueError('no')\n")
    (tmp_path / "broken" / "__main__.py").write_text("print('never')\n")
    monkeypatch.chdir(tmp_path)
    main_before = sys.modules["__main__"]
    target = ModuleTarget.checked("broken", [])
    try:
        with pytest.raises(ValueError, match="no"):
            target.execute()
    finally:
        sys.modules.pop("broken", None)
    assert sys.modules["__main__"] is main_before
