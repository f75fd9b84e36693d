"""How the tests start the real `kmon` command."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def kmon_command() -> list[str]:
    """The console script next to this interpreter, else ``python -m kmon``."""
    script = Path(sys.executable).with_name("kmon")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "kmon"]


def clean_env() -> dict[str, str]:
    """This environment without a fixed terminal size."""
    env = dict(os.environ)
    for name in ("COLUMNS", "LINES"):
        env.pop(name, None)
    return env
