"""A real SSH session on loopback: start a detached run through `ssh`, drop an
interactive session mid-run, and find both runs finished with complete logs.

Needs Debian's openssh-server (`.ci/run` installs it where it can) and root, to
start a private sshd; otherwise skipped with the reason shown.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kmon.engine.log.eventlog import read_events

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"
SCRIPT = """\
import keras
import numpy as np

keras.utils.set_random_seed(0)
x = np.random.default_rng(0).normal(size=(64, 4)).astype("float32")
y = x.sum(axis=1, keepdims=True)
model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
model.compile(optimizer="sgd", loss="mse")
model.fit(x, y, batch_size=16, epochs=int(__import__("sys").argv[1]))
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    if not os.path.exists(SSHD) or not shutil.which("ssh") or not shutil.which("ssh-keygen"):
        pytest.skip("openssh-server/ssh not installed (apt-get install openssh-server ssh)")
    if os.geteuid() != 0:
        pytest.skip("starting a private sshd needs root")
    folder = tmp_path_factory.mktemp("sshd")
    for name in ("host_key", "client_key"):
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(folder / name)], check=True
        )
    shutil.copy(folder / "client_key.pub", folder / "authorized_keys")
    port = free_port()
    config = folder / "sshd_config"
    config.write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {folder / 'host_key'}\n"
        f"AuthorizedKeysFile {folder / 'authorized_keys'}\nPidFile {folder / 'sshd.pid'}\n"
        "PermitRootLogin yes\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
        "UsePAM no\nStrictModes no\n"
    )
    Path("/run/sshd").mkdir(exist_ok=True)
    server = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stderr=subprocess.PIPE)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                break
        if server.poll() is not None:
            pytest.skip(f"sshd did not start: {server.stderr.read().decode()[-300:]}")
        time.sleep(0.1)
    base = [
        "ssh", "-p", str(port), "-i", str(folder / "client_key"),
        "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
        "-o", "BatchMode=yes", "-o", "LogLevel=ERROR", "root@127.0.0.1",
    ]  # fmt: skip
    yield base
    server.terminate()
    server.wait(10)


def _state() -> str:
    """The test's runs index, for the remote shell (ssh passes no environment)."""
    return f"XDG_STATE_HOME={shlex.quote(os.environ['XDG_STATE_HOME'])}"


def kmon_path() -> str:
    return str(Path(sys.executable).with_name("kmon"))


def wait_until_ended(path: Path, timeout: float) -> list:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            lines = path.read_text().splitlines()
            if lines and json.loads(lines[-1]).get("type") == "run_end":
                return read_events(path)[0]
        time.sleep(0.3)
    pytest.fail(f"{path} did not end within {timeout}s")


def test_detached_run_over_ssh_survives_the_connection(sshd, tmp_path):
    (tmp_path / "train.py").write_text(SCRIPT)
    log = tmp_path / "runs" / "over-ssh.jsonl"
    remote = f"cd {tmp_path} && {_state()} {kmon_path()} train --detach --log {log} train.py 150"
    result = subprocess.run([*sshd, remote], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "started run over-ssh" in result.stdout
    # The SSH connection is closed now; the run goes on without it.
    events = wait_until_ended(log, 120)
    assert events[-1].status == "ok"
    assert sum(1 for e in events if e.type == "epoch_end") == 150
    replay = subprocess.run(
        [kmon_path(), "replay", "--headless", str(log)], capture_output=True, text=True, timeout=60
    )
    assert replay.returncode == 0 and "[kmon] run ok" in replay.stdout


def test_dropping_an_interactive_ssh_session_keeps_training(sshd, tmp_path):
    (tmp_path / "train.py").write_text(SCRIPT)
    log = tmp_path / "live.jsonl"
    remote = f"cd {tmp_path} && {_state()} TERM=xterm-256color {kmon_path()} train --log {log} train.py 160"
    client = subprocess.Popen(
        [*sshd[:1], "-tt", *sshd[1:], remote],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if log.exists() and '"epoch_end"' in log.read_text():
                break
            time.sleep(0.2)
        else:
            pytest.fail("the monitored run never started over ssh")
        client.send_signal(signal.SIGKILL)  # the connection drops without goodbye
        client.wait(10)
        events = wait_until_ended(log, 180)
    finally:
        if client.poll() is None:
            client.kill()
    assert events[-1].status == "ok"
    assert sum(1 for e in events if e.type == "epoch_end") == 160
