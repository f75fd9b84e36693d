"""The real ``kmon train`` in a real pseudo-terminal, read back as a person sees it.

pexpect runs kmon on a pty; every byte it writes is fed to a pyte screen, and the
tests read that screen's text. Keys are sent as a user would type them.
"""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

import pytest
from locations import DATA

from kmon.engine.events import RunEnd, RunStart
from kmon.engine.log.eventlog import read_events
from kmon.tui.app import RUNNING_CAPTION

pytest.importorskip("pexpect", reason="pexpect is needed for the pty tests")
pytest.importorskip("pyte", reason="pyte is needed for the pty tests")

from pty_helpers import Terminal  # noqa: E402 - after the skips above

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pseudo-terminal")

#: Starting kmon imports TensorFlow (seconds, more on a busy machine).
START_SECONDS = 60.0
EXIT_SECONDS = 30.0

HEADER = re.compile(r"kmon .*epoch \d+/\d+.*training")

# Trains long enough to be caught live; prints a line at every epoch end, so the
# newest line in the output pane is always the script's own.
LONG_SCRIPT = """\
import keras
import numpy as np

keras.utils.set_random_seed(0)
x = np.random.default_rng(0).normal(size=(64, 4)).astype("float32")
y = x.sum(axis=1, keepdims=True)
model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
model.compile(optimizer="sgd", loss="mse")
say = keras.callbacks.LambdaCallback(
    on_epoch_end=lambda epoch, logs: print(f"script says epoch {epoch} done", flush=True)
)
model.fit(x, y, batch_size=16, epochs=1000, callbacks=[say])
print("script finished all epochs")
"""

SHORT_SCRIPT = """\
import keras
import numpy as np

keras.utils.set_random_seed(0)
x = np.random.default_rng(0).normal(size=(64, 4)).astype("float32")
y = x.sum(axis=1, keepdims=True)
model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
model.compile(optimizer="sgd", loss="mse")
model.fit(x, y, batch_size=16, epochs=2)
print("short script done")
"""


@pytest.fixture
def terminals():
    """Start kmon terminals; whatever a test leaves running is killed."""
    started: list[Terminal] = []

    def start(args: list[str], **kwargs) -> Terminal:
        terminal = Terminal(args, **kwargs)
        started.append(terminal)
        return terminal

    yield start
    for terminal in started:
        terminal.kill()


def log_end(path: Path) -> RunEnd | None:
    if not path.is_file():
        return None
    events, _ = read_events(path)
    return events[-1] if events and isinstance(events[-1], RunEnd) else None


def after_terminal_handed_back(output: str) -> str:
    """What kmon printed once it left the alternate screen."""
    marker = "\x1b[?1049l"
    assert marker in output, "kmon never left the alternate screen"
    return output.rsplit(marker, 1)[1]


def test_live_run_stops_on_q_then_y(tmp_path: Path, terminals) -> None:
    (tmp_path / "long.py").write_text(LONG_SCRIPT, encoding="utf-8")
    term = terminals(["train", "--log", "stop.jsonl", "long.py"], cwd=tmp_path)

    screen = term.wait_for(
        lambda text: bool(HEADER.search(text)) and RUNNING_CAPTION[:40] in text,
        START_SECONDS,
        "the live monitor (header with epoch and training, the loss panels)",
    )
    # The running-mean panel, captioned in words (titles may be cut short).
    assert RUNNING_CAPTION[:40] in screen, screen

    # The script's own lines are on the Output tab ("o").
    term.press("o")
    term.wait_for(
        lambda text: bool(re.search(r"script says epoch \d+ done", text)),
        10,
        "the script's printed line in the output pane",
    )

    term.press("q")
    term.wait_for(lambda text: "Stop training and quit?" in text, 10, "the stop question")
    term.press("y")

    assert term.wait_for_exit() == 0
    handed_back = after_terminal_handed_back(term.output)
    assert "kmon: run stopped" in handed_back
    assert "stop.jsonl" in handed_back
    assert "Traceback" not in term.output

    events, report = read_events(tmp_path / "stop.jsonl")
    assert report.skipped == 0
    assert isinstance(events[0], RunStart)
    end = events[-1]
    assert isinstance(end, RunEnd)
    assert end.status == "stopped"
    assert end.exit_code == 0


def test_finished_run_quits_on_q_without_asking(tmp_path: Path, terminals) -> None:
    (tmp_path / "short.py").write_text(SHORT_SCRIPT, encoding="utf-8")
    term = terminals(["train", "--log", "short.jsonl", "short.py"], cwd=tmp_path)

    screen = term.wait_for(
        lambda text: "finished" in text.splitlines()[0], START_SECONDS, "the finished header"
    )
    assert "epoch 2/2" in screen.splitlines()[0]
    term.press("o")
    term.wait_for(lambda text: "short script done" in text, 10, "the script's last line")

    term.press("q")
    assert term.wait_for_exit() == 0
    assert "Stop training and quit?" not in term.text
    handed_back = after_terminal_handed_back(term.output)
    assert "kmon: run ok" in handed_back
    assert "short.jsonl" in handed_back
    # The script's last print stays on the terminal, above kmon's line.
    assert "short script done" in handed_back.split("kmon: run ok")[0]
    end = log_end(tmp_path / "short.jsonl")
    assert end is not None and end.status == "ok"


def test_tiny_terminal_says_so_and_q_still_quits(tmp_path: Path, terminals) -> None:
    (tmp_path / "short.py").write_text(SHORT_SCRIPT, encoding="utf-8")
    log = tmp_path / "tiny.jsonl"
    term = terminals(["train", "--log", "tiny.jsonl", "short.py"], cwd=tmp_path, rows=10, cols=40)

    term.wait_for(lambda text: "Terminal too small" in text, START_SECONDS, "the too-small note")

    # The panes are hidden, so read the end of the run from the log; then q quits
    # at once. (Should the app not have seen the end yet, it asks; say yes.)
    deadline = time.monotonic() + START_SECONDS
    while log_end(log) is None and time.monotonic() < deadline:
        term.pump(0.5)
    assert log_end(log) is not None, f"the run did not end; screen:\n{term.text}"
    term.pump(0.5)
    assert "Terminal too small" in term.text

    term.press("q")
    term.pump(1.0)
    if not term.eof and "Stop training" in term.text:
        term.press("y")
    assert term.wait_for_exit() == 0
    assert "kmon: run ok" in after_terminal_handed_back(term.output)


def test_heads_tab_shows_its_grid_in_a_real_terminal(tmp_path: Path, terminals) -> None:
    """The grid's rows appear when the tab is opened, not only after a resize."""
    log = DATA / "three_heads.jsonl"
    term = terminals(["replay", str(log)], cwd=tmp_path, rows=40, cols=120)
    term.wait_for(lambda text: "✔ finished" in text, START_SECONDS, "the replayed run's end")
    term.press("h")
    screen = term.wait_for(
        lambda text: "4 losses = total + 3 heads" in text, 10, "the Heads tab's summary"
    )
    term.pump(1.0)
    screen = term.text
    assert re.search(r"loss_ratio +×2\.0 +\d", screen), screen
    assert "val accuracy" in screen, screen
    term.press("q")
    assert term.wait_for_exit() == 0
