"""Hostile cases: faults, bad input, crafted logs, signals at every phase and a
second local user. Every test here runs the real ``kmon`` command (or the engine
exactly as it does) and asserts what a user would see: one line and a non-zero exit,
never a traceback, never lost training data, and a sane terminal afterwards.

Some cases need root (a tiny tmpfs for a full disk, ``setpriv`` to act as a second
user); CI runs as root, and a test that cannot get what it needs says why it skips.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

# Trains for ``argv[1]`` epochs (default: until stopped), a few milliseconds each.
ENDLESS = """\
import sys

import keras
import numpy as np

epochs = int(sys.argv[1]) if len(sys.argv) > 1 else 100000
keras.utils.set_random_seed(0)
x = np.random.default_rng(0).normal(size=(64, 4)).astype("float32")
y = x.sum(axis=1, keepdims=True)
model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
model.compile(optimizer="sgd", loss="mse")
model.fit(x, y, batch_size=16, epochs=epochs, verbose=0)
print("fit returned")
"""


def pytest_collection_modifyitems(items):
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.hostile)


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "endless.py").write_text(ENDLESS)
    return tmp_path


@pytest.fixture
def as_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root (CI runs as root): mounts a tmpfs or switches user")


def _let_others_through(path: Path) -> None:
    """Add the search (x) bit for others on every folder above ``path``: they may
    pass through to what is readable inside, never list or change these folders."""
    for folder in (path, *path.parents):
        if folder == Path("/"):
            break
        mode = os.stat(folder).st_mode
        if mode & 0o001 == 0:
            os.chmod(folder, mode | 0o001)


@pytest.fixture(scope="session")
def kmon_for_others(as_root_session) -> None:
    """The second user runs the same kmon: its interpreter and the checkout the
    editable install points to must be reachable. CI's virtualenv lives in a
    ``mktemp -d`` folder (0700): let uid 65534 through it, then check."""
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv (util-linux) is missing")
    import kmon

    for path in (Path(sys.prefix), Path(kmon.__file__).resolve().parent.parent):
        _let_others_through(path)
    check = subprocess.run(
        [
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            sys.executable,
            "-c",
            "import kmon.cli, kmon.engine.log.runs_folder",
        ],
        capture_output=True,
        text=True,
        cwd="/",
    )
    if check.returncode != 0:
        why = f"uid 65534 cannot run this kmon: {check.stderr.strip().splitlines()[-1:]}"
        if os.environ.get("CI"):
            pytest.fail(why)  # CI must run the second-user cases, never skip them
        pytest.skip(why)


@pytest.fixture(scope="session")
def as_root_session() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root (CI runs as root): switches user")


@pytest.fixture
def second_user(as_root, kmon_for_others, tmp_path: Path) -> int:
    """uid 65534 (nobody), able to reach ``tmp_path`` but nothing of root's inside it
    unless root left it readable."""
    _let_others_through(tmp_path)
    return 65534


@pytest.fixture
def tiny_disk(as_root, tmp_path: Path):
    """A 200 KB tmpfs: the disk fills a few hundred batches into a run."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=200k", "tmpfs", str(mount)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)
