"""The real ``kmon replay`` of a long log on a pseudo-terminal: quitting it halfway
leaves no worker process behind (engine/log/part_read.py, part_worker.py)."""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

import psutil
import pytest

from kmon.engine.events import EpochEnd, EpochStart, FitStart, RunEnd, RunStart
from kmon.engine.log import part_read

pytest.importorskip("pexpect", reason="pexpect is needed for the pty tests")
pytest.importorskip("pyte", reason="pyte is needed for the pty tests")

from pty_helpers import Terminal  # noqa: E402 - after the skips above

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pseudo-terminal")

#: Starting kmon (seconds, more on a busy machine).
START_SECONDS = 60.0


def _long_log(path: Path) -> None:
    """A finished run just over the size that gets a worker (about 300,000 batches)."""
    steps = 1000
    epochs = -(-(part_read.PARALLEL_BYTES + (4 << 20)) // (steps * 180))
    t = 1_764_000_000.0
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(RunStart(script="/long.py", argv=["long.py"], t=t).to_json() + "\n")
        fit = FitStart(fit=0, epochs=epochs, steps=steps, outputs=["dense"], model="m", t=t)
        handle.write(fit.to_json() + "\n")
        for epoch in range(epochs):
            handle.write(EpochStart(fit=0, epoch=epoch, t=t).to_json() + "\n")
            handle.writelines(
                f'{{"v":1,"type":"batch","t":{t + step / 1000},"fit":0,"epoch":{epoch},'
                f'"step":{step},"size":32,"logs":{{"loss":{1 / (1 + step)},"accuracy":0.5}},'
                f'"values":{{"loss":{1 / (2 + step)},"accuracy":0.5}},"span":1}}\n'
                for step in range(steps)
            )
            t += 1.0
            handle.write(EpochEnd(fit=0, epoch=epoch, logs={"loss": 0.5}, t=t).to_json() + "\n")
        handle.write(RunEnd(status="ok", fits=1, t=t).to_json() + "\n")
    assert path.stat().st_size >= part_read.PARALLEL_BYTES


def _worker_of(pid: int, timeout: float) -> psutil.Process:
    """The replay's worker process, once it is there."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for child in psutil.Process(pid).children():
            try:
                if "kmon.engine.log.part_worker" in child.cmdline():
                    return child
            except psutil.NoSuchProcess:
                continue
        time.sleep(0.01)
    pytest.fail("the replay started no worker process")


def test_quitting_a_replay_halfway_leaves_no_worker_behind(tmp_path: Path) -> None:
    log = tmp_path / "long.jsonl"
    _long_log(log)
    term = Terminal(["replay", str(log)], cwd=tmp_path, rows=40, cols=120)
    worker = None
    try:
        worker = _worker_of(term.child.pid, START_SECONDS)
        # Held halfway, as a slow worker would be: the replay cannot be done when
        # q comes (it waits 2 s for a stalled worker before it reads on itself).
        worker.send_signal(signal.SIGSTOP)
        term.wait_for(lambda text: "long.py" in text, START_SECONDS, "the replay's header")
        assert worker.status() == psutil.STATUS_STOPPED
        term.press("q")
        assert term.wait_for_exit() == 0
        # Ended, and reaped, by kmon as it quit.
        assert not worker.is_running()
    finally:
        term.kill()
        if worker is not None and worker.is_running():
            worker.kill()
