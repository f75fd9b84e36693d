"""The Textual app's tests: driven through Pilot, and compared with SVG snapshots."""

from __future__ import annotations

import pytest


@pytest.fixture
def snap_compare(snap_compare, monkeypatch):
    """pytest-textual-snapshot's ``snap_compare``, in colour: Textual turns
    monochrome when NO_COLOR is set, and the baselines are in colour."""
    monkeypatch.delenv("NO_COLOR", raising=False)
    return snap_compare
