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

import pytest
from event_stream import EventStream


@pytest.fixture
def stream() -> EventStream:
    """An empty event stream, its first event at t=1000 s: add a run to it."""
    return EventStream()
