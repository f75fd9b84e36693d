"""The end-to-end tests: the real ``kmon`` command, in a subprocess or on a
pseudo-terminal. Every test under this folder is marked ``e2e``."""

from __future__ import annotations

from pathlib import Path

import pytest


def pytest_collection_modifyitems(items):
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.e2e)
