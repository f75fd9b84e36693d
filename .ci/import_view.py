#!/usr/bin/env python3
"""Builds the ``kmon`` package as it is installed, out of links, for import analysis.

The repository keeps ``engine/``, ``tui/`` and ``scenarios/`` at the top level and
pyproject.toml maps them to ``kmon.engine``, ``kmon.tui`` and ``kmon.scenarios``.
An editable install resolves those names through setuptools' import hook, but
import-linter (grimp) finds a package's modules by walking its folder, and the
``kmon/`` folder holds only the command line. So this script lays out a folder
whose ``kmon/`` links every mapped package in where it belongs, and runs a command
with that folder first on ``PYTHONPATH``.

Usage: ``.ci/import_view.py lint-imports [ARGS...]`` (any command; see .ci/lint-imports).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent


def build_view(into: Path, *, copy: bool = False) -> Path:
    """Lay out ``kmon`` as installed under ``into``, as links (or copies, which a
    test may change without touching the checkout); return ``into``."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    mapping = config["tool"]["setuptools"]["package-dir"]
    package = into / "kmon"
    package.mkdir(parents=True)
    for entry in (ROOT / mapping["kmon"]).iterdir():
        if entry.suffix == ".py" or (entry / "__init__.py").exists():
            _place(entry, package / entry.name, copy)
    for name, folder in mapping.items():
        parts = name.split(".")
        # Only packages mapped straight under kmon: their own subpackages come along.
        if len(parts) == 2 and parts[0] == "kmon" and not (package / parts[1]).exists():
            _place(ROOT / folder, package / parts[1], copy)
    return into


def _place(source: Path, target: Path, copy: bool) -> None:
    if not copy:
        target.symlink_to(source)
    elif source.is_dir():
        shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
    else:
        shutil.copy2(source, target)


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: import_view.py COMMAND [ARGS...]", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="kmon-import-view-") as folder:
        view = build_view(Path(folder))
        path = [str(view), os.environ.get("PYTHONPATH", "")]
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, path)))
        return subprocess.run(argv, cwd=view, env=env).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
