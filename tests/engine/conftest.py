"""The engine tests: kmon's engine driven in-process."""

from __future__ import annotations

import sys

import pytest


@pytest.fixture(autouse=True)
def _clean_probe_settings():
    """Probe settings are the process's (``set_probe_config``, ``set_probe_batch``):
    a test that changed them must not change the next test's probes."""
    yield
    probes = sys.modules.get("kmon.engine.probes")
    if probes is not None:  # never imported: nothing to reset, and no Keras to import
        probes.clear_probe_batch()
        probes.set_probe_config()
