"""The script's output passed through byte for byte (engine/run/output_through.py),
kmon's lines kept between its lines, and held until kmon printed what came before
it (engine/headless/news_order.py)."""

from __future__ import annotations

import os
import threading
import time

import pytest

from kmon.engine.events import EpochEnd, EpochStart, Log, System
from kmon.engine.headless.news_order import OutputAfterNews
from kmon.engine.run.bell import Bell
from kmon.engine.run.channel import MonitorChannel
from kmon.engine.run.output_through import MarkFilter, OutputThrough

SYNC, END = b"\x00kmon-sync\x00", b"\x00kmon-end\x00"


@pytest.mark.parametrize("cut", range(1, len(SYNC)))
def test_a_mark_cut_by_a_reads_end_is_taken_out(cut):
    marks = MarkFilter((SYNC, END))
    data = b"loss 0.5\r" + SYNC + b"\xffdone"
    at = data.index(SYNC) + cut
    shown = marks.feed(data[:at]) + marks.feed(data[at:]) + marks.flush()
    assert shown == b"loss 0.5\r\xffdone"


def test_bytes_that_only_begin_like_a_mark_go_out_once_the_pipe_is_quiet():
    marks = MarkFilter((SYNC, END))
    assert marks.feed(b"binary\x00km") == b"binary"
    assert marks.flush() == b"\x00km"
    assert marks.feed(b"\x00\x00kmon-end\x00!") == b"\x00!"


def test_kmon_lines_start_on_a_line_of_their_own_where_the_script_left_one_open(tmp_path):
    terminal = tmp_path / "terminal"
    fd = os.open(terminal, os.O_WRONLY | os.O_CREAT)
    try:
        # stdout and stderr both lead to the same file: they share where it stands.
        err_fd = os.dup(fd)
        through = OutputThrough({"stdout": fd, "stderr": err_fd}, (SYNC, END))
        with open(fd, "w", closefd=False) as text:
            kmon = through.lines("stdout", text)
            through.write("stdout", b"\rdownloading  50%")
            kmon.write("[kmon] fit 0: 2 epochs\n")
            through.write("stderr", b"\rdownloading 100%\n")
            kmon.write("[kmon] epoch 1/2\n")
            through.write("stdout", b"saved")
            through.flush("stdout")
        os.close(err_fd)
    finally:
        os.close(fd)
    assert terminal.read_bytes() == (
        b"\rdownloading  50%\n[kmon] fit 0: 2 epochs\n\rdownloading 100%\n[kmon] epoch 1/2\nsaved"
    )


def test_a_lost_terminal_is_not_an_error(tmp_path):
    read_end, write_end = os.pipe()
    os.close(read_end)
    through = OutputThrough({"stdout": write_end}, (SYNC, END))
    try:
        through.write("stdout", b"line\n")  # EPIPE: nowhere to show it
    finally:
        os.close(write_end)


class _Session:
    def __init__(self) -> None:
        self.channel = MonitorChannel()

    @property
    def last_news(self) -> int:
        return self.channel.last_news


def test_the_channel_numbers_news_but_not_output_or_batches():
    bell = Bell()
    channel = MonitorChannel(bell=bell)
    channel.put(Log(stream="stdout", text="a line"))
    channel.put(System(interval=1.0))  # sampled each second, printed by no front end
    channel.put(EpochStart(fit=0, epoch=0))
    assert channel.last_news == -1
    assert not bell.wait(0)
    channel.put(EpochEnd(fit=0, epoch=0, logs={"loss": 1.0}))
    news = channel.last_news
    assert bell.wait(0)
    channel.put(Log(stream="stdout", text="after"))
    assert channel.last_news == news
    channel.drain()
    assert channel.drained_through > news


def test_output_waits_for_the_lines_of_news_put_before_it():
    session = _Session()
    order = OutputAfterNews(session)
    order()  # nothing to print first: at once
    session.channel.put(EpochEnd(fit=0, epoch=0, logs={"loss": 1.0}))
    released = threading.Event()

    def script_output() -> None:
        order()
        released.set()

    reader = threading.Thread(target=script_output)
    reader.start()
    assert not released.wait(0.2), "output went out before kmon's epoch line"
    session.channel.drain()
    order.printed(session.channel.drained_through)
    assert released.wait(2)
    reader.join()


def test_output_never_waits_long_or_after_the_loop_closed():
    session = _Session()
    order = OutputAfterNews(session)
    session.channel.put(EpochEnd(fit=0, epoch=0, logs={"loss": 1.0}))
    start = time.monotonic()
    order()  # the loop never prints: output goes on after the bound
    assert 0.9 <= time.monotonic() - start < 3
    order.close()
    start = time.monotonic()
    order()
    assert time.monotonic() - start < 0.1


def test_output_that_waits_wakes_the_loop_at_once():
    session = _Session()
    order = OutputAfterNews(session)
    assert not order.wait(0.05)  # nothing waits: the loop sleeps its full wake
    session.channel.put(EpochEnd(fit=0, epoch=0, logs={"loss": 1.0}))
    reader = threading.Thread(target=order)
    reader.start()
    start = time.monotonic()
    assert order.wait(5)
    assert time.monotonic() - start < 1
    session.channel.drain()
    order.printed(session.channel.drained_through)
    reader.join(2)
    assert not reader.is_alive()
