"""What every test folder shares.

The tests are grouped by what they drive:

- ``engine/``: kmon's engine in-process (events, state, callbacks, logs, the runner),
  on hand-built streams, recordings and small real Keras fits;
- ``tui/``: the Textual app through Pilot, and its SVG snapshots;
- ``e2e/``: the real ``kmon`` command in a subprocess or on a pseudo-terminal
  (marked ``e2e``); ``e2e/hostile/`` (faults, bad input, signals, a second user)
  and ``e2e/real/`` (a corpus of real scripts) have a conftest of their own.

Helpers shared by several folders are modules at this folder's top (on
``pythonpath``): ``event_stream`` (hand-built and recorded event streams),
``model_events`` (runs of several models), ``tui_helpers`` (driving the app),
``kmon_process`` (running the real command), ``pty_helpers``, ``scenario_helpers``,
``batch_identity`` and ``locations``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest
from event_stream import EventStream


def pytest_configure(config) -> None:
    """Before any fixture (a session-scoped one may run kmon too): the runs index
    goes to a folder of this session's; each test then gets its own below."""
    folder = tempfile.mkdtemp(prefix="kmon-xdg-state-")
    config._kmon_xdg_state = folder
    os.environ["XDG_STATE_HOME"] = folder


def pytest_unconfigure(config) -> None:
    folder = getattr(config, "_kmon_xdg_state", None)
    if folder:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(autouse=True)
def runs_index_home(tmp_path_factory) -> Path:
    """Every test's per-user runs index in a folder of its own, never the real
    ``~/.local/state/kmon``: each kmon a test runs (in-process or as a child, which
    inherits the environment) registers its run there. Returns ``XDG_STATE_HOME``.

    It sets the variable itself rather than through ``monkeypatch``: an autouse
    fixture asking for ``monkeypatch`` sets it up before a test's own fixtures, so
    it is torn down after them, and a fixture that cleans up with a function the
    test patched (``sleepers`` killing with ``os.kill``) would call the patch."""
    state = tmp_path_factory.mktemp("xdg-state")
    before = os.environ.get("XDG_STATE_HOME")
    os.environ["XDG_STATE_HOME"] = str(state)
    yield state
    if before is None:
        os.environ.pop("XDG_STATE_HOME", None)
    else:
        os.environ["XDG_STATE_HOME"] = before


@pytest.fixture
def stream() -> EventStream:
    """An empty event stream, its first event at t=1000 s: add a run to it."""
    return EventStream()
