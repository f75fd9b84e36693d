"""A script that uses the signal module the ways real scripts do, printing what it
sees on lines that start with ``api:``; under kmon they must read as under python.

``from signal import ...`` binds the functions at import, as some scripts do.
"""

import os
import signal
import time
from signal import getsignal
from signal import signal as install

seen = []


def remember(signum, frame):
    seen.append(signal.Signals(signum).name)


def wait_for(name):
    for _ in range(300):
        if name in seen:
            return True
        time.sleep(0.01)
    return False


previous = install(signal.SIGUSR1, remember)
print(f"api: previous SIGUSR1 handler {previous!r}")
print(f"api: getsignal gives the handler back: {getsignal(signal.SIGUSR1) is remember}")
os.kill(os.getpid(), signal.SIGUSR1)
print(f"api: SIGUSR1 handled: {wait_for('SIGUSR1')}")

signal.signal(signal.SIGALRM, remember)
signal.setitimer(signal.ITIMER_REAL, 0.05)
print(f"api: SIGALRM from setitimer handled: {wait_for('SIGALRM')}")

signal.signal(signal.SIGUSR2, signal.SIG_IGN)
os.kill(os.getpid(), signal.SIGUSR2)
time.sleep(0.1)
print(f"api: SIGUSR2 ignored, still here, getsignal: {signal.getsignal(signal.SIGUSR2)!r}")

for name, call in (
    ("not a handler", lambda: signal.signal(signal.SIGUSR1, "nope")),
    ("SIGKILL", lambda: signal.signal(signal.SIGKILL, remember)),
    ("signal 9999", lambda: signal.signal(9999, remember)),
):
    try:
        call()
        print(f"api: {name}: accepted")
    except (TypeError, OSError, ValueError) as exc:
        print(f"api: {name}: {type(exc).__name__}")
print(f"api: SIGUSR1 still handled by the script: {signal.getsignal(signal.SIGUSR1) is remember}")


def fail(signum, frame):
    raise RuntimeError("raised by the handler")


signal.signal(signal.SIGUSR1, fail)
try:
    os.kill(os.getpid(), signal.SIGUSR1)
    for _ in range(300):
        time.sleep(0.01)
    print("api: the handler's exception never came")
except RuntimeError as exc:
    print(f"api: the script caught: {exc}")

restored = signal.signal(signal.SIGUSR1, signal.SIG_DFL)
print(f"api: restoring returned the last handler: {restored is fail}")
print(f"api: getsignal after restoring: {signal.getsignal(signal.SIGUSR1)!r}")
