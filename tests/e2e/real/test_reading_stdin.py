"""A script that reads its stdin runs headless as under python: the piped lines reach
it, in order, while kmon trains it; with nothing piped it reads end of file."""

from __future__ import annotations


def test_piped_stdin_reaches_the_script(real_run):
    run = real_run("reads_stdin.py", stdin="3\ny\n")
    assert run.returncode == 0, run.stderr
    assert "epochs from stdin: 3" in run.stdout
    assert "answer: y" in run.stdout
    assert len(run.of_type("epoch_end")) == 3
    assert run.of_type("run_end")[0].status == "ok"


def test_no_stdin_reads_end_of_file(real_run):
    run = real_run("reads_stdin.py")
    assert run.returncode == 0, run.stderr
    assert "epochs from stdin: 1" in run.stdout
    assert "answer: none (end of file)" in run.stdout
    assert len(run.of_type("epoch_end")) == 1
