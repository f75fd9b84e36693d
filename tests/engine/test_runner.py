"""TrainingRun on small real scripts, in this interpreter."""

from __future__ import annotations

import json
import os
import sys
import textwrap

import pytest

from kmon.engine.errors import ScriptError
from kmon.engine.events import FitStart, Log, Notice, RunEnd, RunStart
from kmon.engine.log.eventlog import read_events
from kmon.engine.phases import NO_TRAINING_NOTE
from kmon.engine.run import runner as runner_module
from kmon.engine.run.runner import TrainingRun
from kmon.engine.run.session import Session
from kmon.engine.run.targets import CallableTarget, ScriptTarget

RUN_TIMEOUT = 60.0

TINY_FIT = """
import keras
import numpy as np

keras.utils.set_random_seed(0)
x = np.random.default_rng(0).normal(size=(8, 3)).astype("float32")
y = x.sum(axis=1, keepdims=True)
model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
model.compile(optimizer="sgd", loss="mse")
"""


def _script(folder, source, name="train.py"):
    path = folder / name
    path.write_text(textwrap.dedent(source), encoding="utf-8")
    return path


def _run(target):
    events = []
    run = TrainingRun(target, events.append)
    run.start()
    assert run.join(RUN_TIMEOUT), "the run did not finish"
    assert isinstance(events[0], RunStart)
    assert isinstance(events[-1], RunEnd)
    assert sum(isinstance(e, RunEnd) for e in events) == 1
    return run, events


def _run_script(path, *args):
    return _run(ScriptTarget.checked(str(path), list(args)))


def _notices(events):
    return [e.text for e in events if isinstance(e, Notice)]


def test_captured_print_and_raw_fd_writes_become_log_events(tmp_path):
    script = _script(
        tmp_path,
        TINY_FIT
        + """
import os, sys
print("hello from print")
sys.stderr.write("python stderr\\n")
os.write(2, b"raw to fd 2\\n")
os.write(1, b"raw to fd 1\\n")
model.fit(x, y, batch_size=4, epochs=1)
print("no newline at the end", end="")
""",
    )
    before = [os.fstat(fd) for fd in (1, 2)]
    streams_before = (sys.stdout, sys.stderr)
    session = Session(ScriptTarget.checked(str(script), []), tmp_path / "run.jsonl")
    session.start()
    try:
        assert session.wait(RUN_TIMEOUT)
    finally:
        session.close()
    after = [os.fstat(fd) for fd in (1, 2)]
    assert [(s.st_dev, s.st_ino) for s in after] == [(s.st_dev, s.st_ino) for s in before]
    assert (sys.stdout, sys.stderr) == streams_before
    assert not session.capture.active
    session.close()  # idempotent

    events, report = read_events(tmp_path / "run.jsonl")
    assert report.skipped == 0
    logs = [(e.stream, e.text) for e in events if isinstance(e, Log)]
    for expected in [
        ("stdout", "hello from print"),
        ("stderr", "python stderr"),
        ("stderr", "raw to fd 2"),
        ("stdout", "raw to fd 1"),
        ("stdout", "no newline at the end"),
    ]:
        assert logs.count(expected) == 1, (expected, logs)
    # Keras's progress bar was silenced, and the sync mark never leaks out.
    assert not any("step" in text and "loss" in text for _, text in logs)
    assert not any("\x00" in text for _, text in logs)
    # The script's lines are all reported before the run ended.
    assert events[-1].type == "run_end" and events[-1].status == "ok"
    stdout_lines = [text for stream, text in logs if stream == "stdout"]
    assert stdout_lines.index("hello from print") < stdout_lines.index("raw to fd 1")
    assert [e.type for e in events].count("fit_start") == 1


def test_argv_and_script_folder_import(tmp_path):
    (tmp_path / "kmon_runner_test_helper.py").write_text("VALUE = 41 + 1\n", encoding="utf-8")
    out = tmp_path / "seen.json"
    script = _script(
        tmp_path,
        """
        import json, sys
        import kmon_runner_test_helper as helper
        with open(sys.argv[1], "w") as handle:
            json.dump({"argv": sys.argv, "value": helper.VALUE, "name": __name__}, handle)
        """,
    )
    argv_before, path_before = list(sys.argv), list(sys.path)
    try:
        run, events = _run_script(script, str(out), "--epochs", "3")
    finally:
        sys.modules.pop("kmon_runner_test_helper", None)
    seen = json.loads(out.read_text())
    assert seen == {
        "argv": [str(script.resolve()), str(out), "--epochs", "3"],
        "value": 42,
        "name": "__main__",
    }
    assert events[0].argv == seen["argv"] and events[0].script == str(script.resolve())
    assert (sys.argv, sys.path) == (argv_before, path_before)
    assert run.status == "ok" and run.exit_code == 0


def test_exception_fails_with_user_traceback(tmp_path):
    script = _script(
        tmp_path,
        """
        def load(n):
            raise ValueError(f"bad value {n}")

        load(42)
        """,
        name="boom.py",
    )
    run, events = _run_script(script)
    end = events[-1]
    assert (end.status, end.exit_code) == ("failed", 1)
    assert (run.status, run.exit_code) == ("failed", 1)
    assert end.error["message"] == "ValueError: bad value 42"
    tb = end.error["traceback"]
    lines = tb.splitlines()
    assert lines[0] == "Traceback (most recent call last):"
    assert lines[1].startswith(f'  File "{script.resolve()}", line 5, in <module>')
    assert "in load" in tb
    assert lines[-1] == "ValueError: bad value 42"
    assert "runner.py" not in tb and "runpy" not in tb
    assert end.error == run.error
    assert NO_TRAINING_NOTE not in _notices(events)


@pytest.mark.parametrize(
    ("code", "status", "exit_code"),
    [("sys.exit(3)", "failed", 3), ("sys.exit(0)", "ok", 0), ("sys.exit()", "ok", 0)],
)
def test_sys_exit(tmp_path, code, status, exit_code):
    script = _script(tmp_path, f"import sys\n{code}\nraise AssertionError('not reached')\n")
    run, events = _run_script(script)
    end = events[-1]
    assert (end.status, end.exit_code) == (status, exit_code)
    assert run.exit_code == exit_code
    assert end.error is None


def test_sys_exit_with_a_message(tmp_path):
    script = _script(tmp_path, "import sys\nsys.exit('config file missing')\n")
    _, events = _run_script(script)
    end = events[-1]
    assert (end.status, end.exit_code) == ("failed", 1)
    assert end.error["message"] == "config file missing"


def test_keyboard_interrupt_in_script_is_stopped(tmp_path):
    script = _script(tmp_path, "raise KeyboardInterrupt\n")
    _, events = _run_script(script)
    assert (events[-1].status, events[-1].exit_code) == ("stopped", 130)


def test_script_without_fit_gets_a_notice(tmp_path):
    script = _script(tmp_path, "x = sum(range(10))\n")
    _, events = _run_script(script)
    assert [e.type for e in events] == ["run_start", "script_start", "notice", "run_end"]
    assert events[2].text == NO_TRAINING_NOTE and events[2].level == "warning"
    assert events[-1].status == "ok" and events[-1].fits == 0


@pytest.mark.filterwarnings("ignore:`shuffle=True` was passed")
@pytest.mark.filterwarnings("ignore:Your input ran out of data")
def test_two_fits_second_of_unknown_length(tmp_path):
    script = _script(
        tmp_path,
        TINY_FIT
        + """
import tensorflow as tf

model.fit(x, y, batch_size=4, epochs=2)

def generate():
    for i in range(0, 8, 4):
        yield x[i : i + 4], y[i : i + 4]

spec = (tf.TensorSpec((None, 3), tf.float32), tf.TensorSpec((None, 1), tf.float32))
model.fit(tf.data.Dataset.from_generator(generate, output_signature=spec), epochs=1)
""",
    )
    _, events = _run_script(script)
    starts = [e for e in events if isinstance(e, FitStart)]
    assert [(s.fit, s.steps, s.epochs) for s in starts] == [(0, 2, 2), (1, None, 1)]
    assert [(e.fit, e.epoch) for e in events if e.type == "epoch_end"] == [(0, 0), (0, 1), (1, 0)]
    assert [(e.fit, e.step) for e in events if e.type == "batch" and e.fit == 1] == [(1, 0), (1, 1)]
    assert events[-1].status == "ok" and events[-1].fits == 2
    assert NO_TRAINING_NOTE not in _notices(events)


def test_stop_request_stops_the_run_and_skips_later_fits():
    import keras
    import numpy as np

    holder = {}

    class RequestStop(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            holder["run"].request_stop()

    def train():
        x = np.zeros((16, 2), "float32")
        model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        model.compile(optimizer="sgd", loss="mse")
        model.fit(x, x[:, :1], batch_size=4, epochs=3, callbacks=[RequestStop()])
        model.fit(x, x[:, :1], batch_size=4, epochs=3)

    events = []
    run = TrainingRun(CallableTarget("stopper", train, scenario="demo"), events.append)
    holder["run"] = run
    run.start()
    assert run.join(RUN_TIMEOUT)
    assert events[0].scenario == "demo"
    assert run.stop_requested
    assert [e.step for e in events if e.type == "batch"] == [0]
    assert [e.type for e in events].count("fit_start") == 1
    assert any("skipped" in text for text in _notices(events))
    assert (events[-1].status, events[-1].exit_code, events[-1].fits) == ("stopped", 0, 1)


def test_traceback_keeps_frames_of_folders_named_like_the_engine(tmp_path):
    # A user folder whose name merely starts like kmon's engine folder
    # (".../engine_scripts/") is the user's code, not kmon's.
    here = os.path.dirname(os.path.dirname(os.path.abspath(runner_module.__file__)))
    assert os.path.basename(here) == "engine"
    fake = here + "_scripts" + os.sep + "train.py"
    namespace = {}
    exec(compile("def train():\n    raise ValueError('deep')\n", fake, "exec"), namespace)
    run, events = _run(CallableTarget("t", namespace["train"]))
    tb = events[-1].error["traceback"]
    assert tb.splitlines()[1].startswith(f'  File "{fake}", line 2, in train')


def test_checked_missing_file(tmp_path):
    with pytest.raises(ScriptError) as info:
        ScriptTarget.checked(str(tmp_path / "nope.py"), [])
    assert "no such script" in str(info.value)


def test_checked_directory(tmp_path):
    with pytest.raises(ScriptError) as info:
        ScriptTarget.checked(str(tmp_path), [])
    assert "not a file" in str(info.value)


def test_checked_binary_file(tmp_path):
    path = tmp_path / "model.h5"
    path.write_bytes(b"\x89HDF\r\n\x1a\n\x00\x00\x00binary")
    with pytest.raises(ScriptError) as info:
        ScriptTarget.checked(str(path), [])
    assert "binary" in str(info.value)


@pytest.mark.parametrize(
    "source",
    ["def f(:\n    pass\n", "x = (1,\n\ny = 2\n", "if True:\nprint('x')\n", "'''never closed\n"],
    ids=["bad-def", "unclosed-paren", "indent", "unclosed-string"],
)
def test_checked_syntax_error(tmp_path, source):
    path = _script(tmp_path, source, name="broken.py")
    with pytest.raises(ScriptError) as info:
        ScriptTarget.checked(str(path), [])
    message = str(info.value)
    assert message.startswith(f"syntax error in {path} (line ")
    assert "\n" not in message and "\r" not in message


@pytest.mark.parametrize(
    "make",
    [
        lambda p: p / "missing.py",
        lambda p: p,
        lambda p: (p / "b.bin").write_bytes(b"\x00\x01") and p / "b.bin",
        lambda p: (p / "s.py").write_text("def (\n") and p / "s.py",
    ],
    ids=["missing", "directory", "binary", "syntax"],
)
def test_checked_errors_are_one_line(tmp_path, make):
    with pytest.raises(ScriptError) as info:
        ScriptTarget.checked(str(make(tmp_path)), [])
    message = str(info.value)
    assert message and "\n" not in message


def test_checked_accepts_a_valid_script(tmp_path):
    path = _script(tmp_path, "print('hi')\n")
    target = ScriptTarget.checked(str(path), ["a", "b"])
    assert target.path == path.resolve() and target.argv == ["a", "b"]
    assert target.name == "train.py"
    start = target.run_start()
    assert start.argv == [str(path.resolve()), "a", "b"] and start.pid == os.getpid()


def test_exception_inside_fit_hides_kmons_fit_wrapper(tmp_path):
    script = _script(
        tmp_path,
        """
        import keras
        import numpy as np

        class Boom(keras.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                raise RuntimeError("boom at the first epoch end")

        model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        model.compile(optimizer="sgd", loss="mse")
        model.fit(np.zeros((8, 2)), np.zeros((8, 1)), epochs=2, verbose=0, callbacks=[Boom()])
        """,
        name="callback_boom.py",
    )
    run, events = _run_script(script)
    tb = events[-1].error["traceback"]
    # The script's fit() call, then straight on to the callback that raised.
    assert f'File "{script.resolve()}", line 11, in <module>' in tb
    assert f'File "{script.resolve()}", line 7, in on_epoch_end' in tb
    assert "fit_hook.py" not in tb and "runner.py" not in tb and "runpy" not in tb
    assert tb.splitlines()[-1] == "RuntimeError: boom at the first epoch end"


def test_traceback_drops_frames_of_every_engine_subpackage(tmp_path):
    # The runner lives in engine/run/; a frame from engine/training/ (the callback,
    # inside the user's fit()) is kmon's too, not the user's.
    engine_root = os.path.dirname(os.path.dirname(os.path.abspath(runner_module.__file__)))
    own = os.path.join(engine_root, "training", "kmon_frame.py")
    user = str(tmp_path / "train.py")
    namespace = {}
    exec(compile("def kmon_hook(fn):\n    fn()\n", own, "exec"), namespace)
    exec(compile("def fail():\n    raise ValueError('in the user code')\n", user, "exec"), namespace)
    exec(compile("def train():\n    kmon_hook(fail)\n", user, "exec"), namespace)
    run, events = _run(CallableTarget("t", namespace["train"]))
    tb = events[-1].error["traceback"]
    assert f'File "{user}", line 2, in fail' in tb
    assert "kmon_frame.py" not in tb and "in kmon_hook" not in tb


def test_exception_raised_inside_kmon_keeps_its_frames():
    try:
        runner_module._own_frame(None)  # an AttributeError inside kmon's engine
    except AttributeError as exc:
        text = runner_module._user_traceback(exc)
    assert "runner.py" in text and "in _own_frame" in text
    assert "in test_exception_raised_inside_kmon_keeps_its_frames" in text


def test_kmons_frames_under_a_fit_call_onward_within_a_few_instructions(tmp_path):
    """TensorFlow captures the Python stack at every eager op (two a training step:
    the data iterator's next batch), reading each frame's line by walking its code's
    line table from the start to where the frame stands. kmon's frames under the
    script (the thread's target, the target's ``execute``, the fit hook) stand
    under every step, so each must call onward early in its code: before, the fit
    hook stood at byte 1,894 of its code and the run's thread at 562, which cost
    about 2 µs an eager op (4 a step) over a short frame; runpy's frames 0.7 more,
    and threading's 0.5."""
    out = tmp_path / "frames.json"
    path = _script(
        tmp_path,
        TINY_FIT
        + f"""
import json, sys

class Frames(keras.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        frame, seen = sys._getframe(1), []
        while frame is not None:
            seen.append([frame.f_code.co_filename, frame.f_code.co_qualname, frame.f_lasti])
            frame = frame.f_back
        with open({str(out)!r}, "w") as handle:
            json.dump(seen, handle)

model.fit(x, y, batch_size=4, epochs=1, verbose=0, callbacks=[Frames()])
""",
    )
    run, _ = _run_script(path)
    assert run.status == "ok"
    frames = json.loads(out.read_text())
    engine = os.path.dirname(os.path.dirname(runner_module.__file__))
    own = {name: lasti for file, name, lasti in frames if file.startswith(engine)}
    assert {"FitHook.monitor_fit", "TrainingRun._main", "ScriptTarget.execute"} <= set(own)
    assert all(lasti <= 240 for lasti in own.values()), own
    # kmon runs the script's code itself, on a thread of its own making: runpy's
    # three frames (690 bytes into their code) cost such an op about 0.7 µs more,
    # threading.Thread's three 0.5.
    assert not [name for file, name, _ in frames if "runpy" in file or "threading" in file]
    assert frames[-1][1] == "_bare" and frames[-1][0].startswith(engine), frames[-1]
