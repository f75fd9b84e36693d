"""The Textual app's tests: driven through Pilot, and compared with SVG snapshots."""

from __future__ import annotations

import gc

import pytest


@pytest.fixture
def snap_compare(snap_compare, monkeypatch):
    """pytest-textual-snapshot's ``snap_compare``, in colour: Textual turns
    monochrome when NO_COLOR is set, and the baselines are in colour."""
    monkeypatch.delenv("NO_COLOR", raising=False)
    return snap_compare


@pytest.fixture(autouse=True)
def _unfrozen_collector():
    """A live monitor freezes what is alive for the garbage collector at the first
    fit (``gc.freeze``): in a test process that would keep every earlier test's
    objects out of collection. Each test starts and ends unfrozen."""
    gc.unfreeze()
    yield
    gc.unfreeze()
