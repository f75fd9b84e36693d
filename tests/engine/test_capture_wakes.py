"""The capture's reader threads wait for their pipes without a timeout while nothing
partial is held (each timed wake costs a thread 80-150 µs of CPU on a VM), and still
emit a partial line after ``PARTIAL_LINE_SECONDS`` of quiet."""

from __future__ import annotations

import json
import subprocess
import sys

CHILD = """
import json, sys, threading, time
from kmon.engine.run.capture import OutputCapture

events = []
capture = OutputCapture(events.append)
capture.start(pass_through=True)
print("a whole line", flush=True)
time.sleep(0.3)
readers = {t.name: t.native_id for t in threading.enumerate() if t.name.startswith("kmon-capture")}

def wakes(tid):
    with open(f"/proc/self/task/{tid}/status") as status:
        for line in status:
            if line.startswith("voluntary_ctxt_switches"):
                return int(line.split()[1])

before = {name: wakes(tid) for name, tid in readers.items()}
time.sleep(1.6)
quiet = {name: wakes(tid) - before[name] for name, tid in readers.items()}
sys.stdout.write("a partial line")
sys.stdout.flush()
time.sleep(1.0)
capture.stop()
with open(sys.argv[1], "w") as out:
    json.dump({"quiet": quiet, "lines": [e.text for e in events if e.type == "log"]}, out)
"""


def test_quiet_readers_do_not_wake_and_a_partial_line_still_comes(tmp_path):
    result = tmp_path / "result.json"
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(result)], capture_output=True, timeout=60
    )
    assert done.returncode == 0, done.stderr.decode()
    found = json.loads(result.read_text())
    # 1.6 s with a 0.5 s timeout woke each reader 3 times.
    assert found["quiet"] == {"kmon-capture-stdout": 0, "kmon-capture-stderr": 0}
    assert found["lines"] == ["a whole line", "a partial line"]
    assert done.stdout == b"a whole line\na partial line"
