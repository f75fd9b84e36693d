"""README's quickstart is the contract: two commands, and CI runs the second."""

from __future__ import annotations

import re

from locations import ROOT


def quickstart_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    return [block.strip() for block in re.findall(r"```bash\n(.*?)```", section, re.S)]


def test_quickstart_is_two_commands():
    commands = quickstart_commands()
    assert commands == ["pip install -e . && kmon", 'pip install -e ".[test]" && pytest']


def test_ci_runs_the_readme_test_command():
    ci_lines = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert quickstart_commands()[1] in ci_lines
