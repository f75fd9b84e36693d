"""kmon runs a script's (or a module's) code itself, not through runpy (whose frames
would sit under every eager TensorFlow op): the script must see exactly what runpy
gives it. Each test runs one real script both ways, in this interpreter, and
compares what it saw."""

from __future__ import annotations

import json
import runpy
import sys
import textwrap
from pathlib import Path

import pytest

from kmon.engine.run import targets as targets_module
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
    "builtins": "__builtins__" in space,
}
with open(sys.argv[1], "w") as handle:
    json.dump(seen, handle)
"""


def _seen(path: Path) -> dict:
    return json.loads(path.read_text())


def test_a_script_sees_what_runpy_run_path_gives_it(tmp_path: Path) -> None:
    script = tmp_path / "train.py"
    script.write_text(textwrap.dedent(SEES), encoding="utf-8")
    by_runpy, by_kmon = tmp_path / "runpy.json", tmp_path / "kmon.json"
    main_before, argv_before, path_before = sys.modules["__main__"], list(sys.argv), list(sys.path)

    with targets_module._as_main([str(script.resolve()), str(by_runpy)], str(tmp_path)):
        runpy.run_path(str(script.resolve()), run_name="__main__")
    ScriptTarget.checked(str(script), [str(by_kmon)]).execute()

    kmon, by_run_path = _seen(by_kmon), _seen(by_runpy)
    assert kmon["argv"] == [str(script.resolve()), str(by_kmon)]
    kmon["argv"][1] = by_run_path["argv"][1]
    assert kmon == by_run_path
    assert kmon["annotation"] == "<class 'int'>"
    assert kmon["module_is_ours"] and kmon["pickled"] == 3
    assert sys.modules["__main__"] is main_before
    assert (sys.argv, sys.path) == (argv_before, path_before)


@pytest.mark.parametrize("name", ["seer", "seer.job"])
def test_a_module_sees_what_runpy_run_module_gives_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    (tmp_path / "seer").mkdir()
    (tmp_path / "seer" / "__init__.py").write_text("", encoding="utf-8")
    for file in ("__main__.py", "job.py"):
        (tmp_path / "seer" / file).write_text(textwrap.dedent(SEES), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    by_runpy, by_kmon = tmp_path / "runpy.json", tmp_path / "kmon.json"
    main_before, argv_before = sys.modules["__main__"], list(sys.argv)

    def forget_the_package() -> None:
        for module in [m for m in sys.modules if m == "seer" or m.startswith("seer.")]:
            del sys.modules[module]

    try:
        with targets_module._as_main(["-m", str(by_runpy)], str(tmp_path)):
            runpy.run_module(name, run_name="__main__", alter_sys=True)
        forget_the_package()
        ModuleTarget.checked(name, [str(by_kmon)]).execute()
    finally:
        forget_the_package()

    kmon, by_run_module = _seen(by_kmon), _seen(by_runpy)
    assert kmon["argv"][1:] == [str(by_kmon)]
    kmon["argv"][1] = by_run_module["argv"][1]
    assert kmon == by_run_module
    assert kmon["globals"]["__package__"] == "'seer'"
    assert kmon["module_is_ours"] and kmon["pickled"] == 3
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
