"""Shared helpers for kmon's benchmarks: the machine line, medians, and programs
run on a real pseudo-terminal whose output is read (and counted) continuously.

Imported by the benchmark scripts as ``_common`` (they run as
``python benchmarks/NAME.py``, so this folder is first on ``sys.path``).
"""

from __future__ import annotations

import atexit
import os
import platform
import shutil
import signal
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path

# A benchmark's runs are not the user's: keep them out of the per-user runs index
# (`kmon ps --all`, the Runs screen). Children inherit the variable.
_STATE_HOME = tempfile.mkdtemp(prefix="kmon-bench-state-")
os.environ["XDG_STATE_HOME"] = _STATE_HOME
atexit.register(shutil.rmtree, _STATE_HOME, ignore_errors=True)


HERE = Path(__file__).resolve().parent
ROWS, COLS = 40, 120


def machine_line() -> str:
    """nproc, CPU model, Python and the versions kmon runs against."""
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        cpu = platform.processor() or cpu
    versions = []
    for names, label in (
        (("tensorflow", "tensorflow-cpu"), "TF"),
        (("keras",), "Keras"),
        (("textual",), "Textual"),
    ):
        versions.append(f"{label} {_installed_version(names)}")
    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    return (
        f"nproc {os.cpu_count()} · {cpu} · Python {platform.python_version()} · "
        + " · ".join(versions)
        + f" · Keras backend {backend}"
    )


def _installed_version(names: Sequence[str]) -> str:
    """The version of the first of ``names`` installed (TensorFlow ships under
    several distribution names), else ``?``."""
    for name in names:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return "?"


def header(title: str) -> None:
    print(f"== {title}")
    print(f"machine: {machine_line()}")
    sys.stdout.flush()


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0..1) by the nearest-rank method."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, int(round(q * len(ordered) + 0.5)) - 1))
    return ordered[rank]


def verdict(ok: bool) -> str:
    return "MET" if ok else "MISSED"


def ratio_line(name: str, ratio: float, goal: float | None, detail: str = "") -> str:
    """One figure as ``ratio <name>: 1.012 (goal <= 1.03: MET) detail``."""
    goal_text = f" (goal <= {goal:g}: {verdict(ratio <= goal)})" if goal is not None else ""
    return f"ratio {name}: {ratio:.3f}{goal_text}{'  ' + detail if detail else ''}"


def kmon_command() -> list[str]:
    """The ``kmon`` console script next to this interpreter, else ``python -m kmon``."""
    script = Path(sys.executable).with_name("kmon")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "kmon"]


def clean_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ, TERM="xterm-256color", TF_CPP_MIN_LOG_LEVEL="2")
    for name in ("COLUMNS", "LINES", "NO_COLOR", "TEXTUAL"):
        env.pop(name, None)
    env.update(extra)
    return env


class PtyProgram:
    """A program on a ``rows`` x ``cols`` pseudo-terminal.

    A reader thread takes everything the program writes as soon as it is written
    (the pty never fills up and blocks the program), records ``(time, bytes)`` per
    read and, with ``screen=True``, mirrors it into a pyte screen.
    """

    def __init__(
        self,
        argv: list[str],
        *,
        cwd: str | os.PathLike | None = None,
        env: dict[str, str] | None = None,
        rows: int = ROWS,
        cols: int = COLS,
        screen: bool = False,
    ) -> None:
        import pexpect

        self._lock = threading.Lock()
        self.reads: list[tuple[float, int]] = []
        self.total = 0
        self.tail = b""
        """The last 4 KiB the program wrote, for error messages."""
        self.eof = threading.Event()
        self._screen = None
        self._stream = None
        self._watched: dict[str, float | None] = {}
        if screen:
            import pyte

            self._screen = pyte.Screen(cols, rows)
            self._stream = pyte.ByteStream(self._screen)
        self.started = time.perf_counter()
        self.child = pexpect.spawn(
            argv[0],
            argv[1:],
            cwd=str(cwd) if cwd else None,
            env=env or clean_env(),
            dimensions=(rows, cols),
        )
        self._reader = threading.Thread(target=self._read, name="pty-reader", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        import pexpect

        while True:
            try:
                data = self.child.read_nonblocking(65536, timeout=0.05)
            except pexpect.TIMEOUT:
                continue
            except (pexpect.EOF, OSError, ValueError):
                break
            if not data:
                continue
            now = time.perf_counter()
            with self._lock:
                self.reads.append((now, len(data)))
                self.total += len(data)
                self.tail = (self.tail + data)[-4096:]
                if self._stream is not None:
                    self._stream.feed(data)
                    self._check_watched(now)
        self.eof.set()

    def _check_watched(self, now: float) -> None:
        pending = [needle for needle, seen in self._watched.items() if seen is None]
        if pending:
            shown = "\n".join(self._screen.display)
            for needle in pending:
                if needle in shown:
                    self._watched[needle] = now

    @property
    def text(self) -> str:
        with self._lock:
            return "\n".join(self._screen.display) if self._screen is not None else ""

    def wait_for_text(self, needle: str, timeout: float) -> float | None:
        """Seconds from spawn until ``needle`` first showed on the screen (timed at
        the read that drew it), or None. Needs ``screen=True``."""
        with self._lock:
            self._watched.setdefault(needle, None)
            self._check_watched(time.perf_counter())
        deadline = time.perf_counter() + timeout
        while True:
            with self._lock:
                seen = self._watched[needle]
            if seen is not None:
                return seen - self.started
            if time.perf_counter() > deadline or self.eof.is_set():
                return None
            time.sleep(0.01)

    def wait_until(self, condition: Callable[[], bool], timeout: float) -> bool:
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            if condition():
                return True
            if self.eof.is_set():
                return condition()
            time.sleep(0.05)
        return False

    @property
    def output(self) -> str:
        return self.tail.decode("utf-8", errors="replace")

    def bytes_between(self, start: float, end: float) -> int:
        with self._lock:
            return sum(size for t, size in self.reads if start <= t < end)

    def send(self, text: str) -> None:
        self.child.send(text)

    def finish(self, timeout: float = 30.0) -> int | None:
        """Wait for the program to exit; kill it when it does not. Its exit code."""
        self.eof.wait(timeout)
        if not self.eof.is_set():
            self.kill()
            return None
        self._reader.join(5)
        self.child.close()
        return self.child.exitstatus

    def kill(self) -> None:
        """SIGKILL at once (a polite SIGHUP or SIGINT would have kmon stop training
        gracefully first, or carry on after a hang-up)."""
        # isalive() reaps a dead child, so the pid killed is still this program's.
        if not self.child.closed and self.child.isalive():
            try:
                os.kill(self.child.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.eof.wait(5)
