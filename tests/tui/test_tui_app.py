"""The monitor app on recorded and hand-built runs, driven through Textual's Pilot:
what each pane shows, the keys, a terminal too small, and replay's own clock (a live
run: tests/tui/test_tui_live.py)."""

from __future__ import annotations

import math

import pytest
from event_stream import EventStream, load_events
from locations import DATA
from textual.widgets import Label, Sparkline, TabbedContent
from tui_helpers import header_text, replayed, running, wait_until

from kmon.engine.events import (
    Event,
)
from kmon.engine.format import format_duration, format_value
from kmon.engine.log.sources import UNFINISHED_NOTE, LogFileSource, RecordedSource
from kmon.engine.phases import NO_TRAINING_NOTE
from kmon.tui.app import SMOOTHED_CAPTION, VALUES_CAPTION, MonitorApp
from kmon.tui.screens.help import HelpScreen
from kmon.tui.widgets.epoch_chart import EpochChart
from kmon.tui.widgets.explanation import Explanation
from kmon.tui.widgets.log_pane import LogPane
from kmon.tui.widgets.series_panel import SeriesPanel

SIZE = (80, 24)



def log_text(app: MonitorApp) -> str:
    """What the output pane holds. RichLog renders its lines only once it has a
    size, so the Output tab must have been shown."""
    return "\n".join(strip.text for strip in app.query_one(LogPane).lines)


def sparkline_data(app: MonitorApp, panel_id: str) -> list[float]:
    return list(app.query_one(f"#{panel_id}", SeriesPanel).query_one(Sparkline).data or [])


def stats_text(app: MonitorApp, panel_id: str) -> str:
    return str(app.query_one(f"#{panel_id}", SeriesPanel).query_one(".series-stats", Label).content)


def panel_title(app: MonitorApp, panel_id: str) -> str:
    return str(app.query_one(f"#{panel_id}", SeriesPanel).border_title)


def chart_text(app: MonitorApp) -> str:
    return str(app.query_one(EpochChart).render())


def plotted(app: MonitorApp) -> dict[str, tuple[list[float], list[float]]]:
    """The epoch chart's series as plotext holds them: {label: (epochs, values)}.
    (Reads plotext's figure state; the drawing itself is checked by the snapshots.)"""
    monitor = app.query_one(EpochChart).plt._active.monitor
    return {
        label: (list(xs), list(ys))
        for label, xs, ys in zip(monitor.label, monitor.x, monitor.y, strict=True)
    }


def running_means(events) -> list[float]:
    return [e.logs["loss"] for e in events if e.type == "batch"]


def recovered_values(events) -> list[float]:
    return [e.values["loss"] for e in events if e.type == "batch"]


def history(events, key: str) -> list[float]:
    return [e.logs[key] for e in events if e.type == "epoch_end" and key in e.logs]


def train_evals(events) -> list[float]:
    return [e.logs["loss"] for e in events if e.type == "train_eval"]


# -- a finished recording -------------------------------------------------------------


async def test_replay_shows_the_finished_run():
    events = load_events("two_fits")

    async with replayed(events, SIZE) as (app, pilot):
        header = header_text(app)
        # Only the script's file name, never the recording machine's path.
        assert "kmon two_fits.py" in header
        assert "/work/" not in header and "/tmp" not in header
        # The second fit's last epoch, not the run's "5/5": more fits might follow.
        assert "fit 1 (2 so far) · epoch 2/2 of this fit" in header
        assert "✔ finished" in header
        assert "4/4" in header
        assert "ETA" not in header
        assert app.query_one(TabbedContent).active == "loss-tab"

        # Each batch's own loss: all 20 points, the highest one kept.
        values = sparkline_data(app, "batch-values")
        assert values == recovered_values(events)
        assert max(values) == max(recovered_values(events))
        assert "20 batches" in stats_text(app, "batch-values")
        # Keras's running means, as its progress bar showed them.
        means = sparkline_data(app, "batch-loss")
        assert len(means) == 20
        assert max(means) == max(running_means(events))
        assert stats_text(app, "batch-loss").startswith(
            f"last {format_value(running_means(events)[-1])}"
        )

        # The epoch chart: History's loss, val_loss (first fit only) and
        # evaluate() on the training data, over epochs 1..5.
        loss, val, evaluated = (
            history(events, "loss"),
            history(events, "val_loss"),
            train_evals(events),
        )
        assert (len(loss), len(val), len(evaluated)) == (5, 3, 5)
        assert plotted(app) == {
            "History loss": ([1, 2, 3, 4, 5], loss),
            "val_loss": ([1, 2, 3], val),
            "evaluate() on train": ([1, 2, 3, 4, 5], evaluated),
        }
        chart = chart_text(app)
        assert "loss per epoch" in chart
        for label in plotted(app):
            assert label in chart
        assert chart.rstrip().splitlines()[-1].split() == ["1", "2", "3", "4", "5"]

        explanation = str(app.query_one(Explanation).content)
        assert explanation.startswith("[b]Epoch 5:[/b] ")
        assert f"History's loss {format_value(loss[-1])}" in explanation
        assert "dropout" in explanation

        assert app.query_one(LogPane).border_title == "output · 8 lines"


async def test_output_tab_shows_what_the_script_printed():
    app = MonitorApp(RecordedSource(load_events("two_fits")))
    async with running(app, SIZE) as pilot:
        await wait_until(pilot, lambda: app.state.finished)
        await pilot.press("o")
        assert app.query_one(TabbedContent).active == "output-tab"
        await wait_until(pilot, lambda: "all done" in log_text(app))
        lines = log_text(app).splitlines()
        assert lines.index("first fit done, fine-tuning") < lines.index("all done")
        assert app.query_one(LogPane).region.height > 0
        await pilot.press("l")
        assert app.query_one(TabbedContent).active == "loss-tab"


async def test_s_toggles_the_smoothed_batch_values():
    app = MonitorApp(RecordedSource(load_events("two_fits")))
    async with running(app, SIZE) as pilot:
        await wait_until(pilot, lambda: app.state.finished)
        panel = app.query_one("#batch-values", SeriesPanel)
        raw = sparkline_data(app, "batch-values")
        assert panel.border_title == VALUES_CAPTION

        await pilot.press("s")
        assert app.smoothing
        assert panel.border_title == SMOOTHED_CAPTION
        smoothed = sparkline_data(app, "batch-values")
        assert smoothed == app.state.batch_ema.highs()
        assert len(smoothed) == len(raw) and smoothed != raw
        # Smoothing narrows the range; it never invents a higher peak.
        assert max(smoothed) < max(raw)

        await pilot.press("s")
        assert panel.border_title == VALUES_CAPTION
        assert sparkline_data(app, "batch-values") == raw


async def test_gradual_replay_reaches_the_same_final_state():
    events = load_events("two_fits")

    app = MonitorApp(RecordedSource(events, per_drain=6))
    async with running(app, SIZE) as pilot:
        assert not app.state.finished
        seen_epochs = []

        def note() -> bool:
            seen_epochs.append(len(app.state.history))
            return app.state.finished

        await wait_until(pilot, note, timeout=5)
        await pilot.pause()
        # Epochs arrived a few at a time, never went backwards.
        assert seen_epochs == sorted(seen_epochs)
        assert len(set(seen_epochs)) > 2
        assert "epoch 2/2 of this fit" in header_text(app)
        assert "✔ finished" in header_text(app)
        assert sparkline_data(app, "batch-values") == recovered_values(events)
        assert max(sparkline_data(app, "batch-loss")) == max(running_means(events))
        assert "Epoch 5:" in str(app.query_one(Explanation).content)
        assert plotted(app)["History loss"] == ([1, 2, 3, 4, 5], history(events, "loss"))


def one_epoch(script: str, losses: list[float]) -> list[Event]:
    """A finished run of one epoch whose batches had ``losses``, 1 ms apart (the
    running means as Keras would log them, batches of one sample)."""
    stream = EventStream(0.0).run_start(script).fit_start(epochs=1, steps=len(losses))
    return stream.epoch(losses, size=1, every=0.001).run_end().events


async def test_a_spike_survives_bucketing_in_the_batch_sparklines():
    losses = [50.0 if step == 3777 else 1.0 - step / 10000 for step in range(5000)]
    events = one_epoch("spike.py", losses)

    async with replayed(events, SIZE) as (app, pilot):
        values = sparkline_data(app, "batch-values")
        assert len(values) <= app.state.series_capacity
        assert max(values) == 50.0
        assert "5,000 batches" in stats_text(app, "batch-values")
        means = sparkline_data(app, "batch-loss")
        assert max(means) == max(e.logs["loss"] for e in events if e.type == "batch")


async def test_g_draws_the_batch_sparklines_on_a_log_scale():
    """A loss falling by four orders of magnitude is a flat line on a linear scale."""
    events = one_epoch("fall.py", [10.0 ** (1 - step / 100) for step in range(400)])  # to 1e-3

    async with replayed(events, SIZE) as (app, pilot):
        linear = sparkline_data(app, "batch-values")
        assert linear == app.state.batch_values.highs()
        assert stats_text(app, "batch-values").endswith(" · g: log scale")

        await pilot.press("g")
        logged = sparkline_data(app, "batch-values")
        assert logged == pytest.approx([math.log10(v) for v in linear])
        assert logged[0] == pytest.approx(1.0) and logged[-1] == pytest.approx(-2.99)
        means = sparkline_data(app, "batch-loss")
        assert means == pytest.approx([math.log10(v) for v in app.state.batch_loss.highs()])
        for panel in ("batch-values", "batch-loss"):
            assert panel_title(app, panel).endswith(" · LOG SCALE (g: linear)")
        # The stats stay in the loss's own units.
        assert stats_text(app, "batch-values") == (
            "last 0.0010 · min 0.0010 · max 10.00 · 400 batches"
        )

        await pilot.press("g")
        assert sparkline_data(app, "batch-values") == linear
        assert panel_title(app, "batch-values") == VALUES_CAPTION


async def test_failed_recording_says_failed():
    events = load_events("failed")

    async with replayed(events, SIZE) as (app, pilot):
        header = header_text(app)
        assert "kmon failed.py" in header
        # Why, on every tab: the exception's line, cut to the terminal's width.
        first = header.splitlines()[0]
        assert "✘ failed (exit 1): RuntimeError: fixture" in first
        assert first.endswith("…") and len(first) <= SIZE[0] - 2
        assert "epoch 1/1" in header
        assert plotted(app) == {"History loss": ([1], history(events, "loss"))}
        await pilot.press("o")
        await wait_until(pilot, lambda: "about to fail" in log_text(app))
        # The traceback comes last in the output, as Python prints it.
        lines = log_text(app).splitlines()
        assert lines[-4:] == [
            "Traceback (most recent call last):",
            '  File "/work/main/tests/data/scripts/failed.py", line 18, in <module>',
            '    raise RuntimeError("fixture failure after one epoch")',
            "RuntimeError: fixture failure after one epoch",
        ]


async def test_a_script_that_never_trains_says_so_on_screen():
    stream = EventStream(0.0).run_start("/x/setup.py")
    stream.wait(0.1).log("preparing data only")
    stream.wait(0.1).notice(NO_TRAINING_NOTE, level="warning").run_end()
    events = stream.events

    async with replayed(events, SIZE) as (app, pilot):
        # The Loss tab says why it stays empty, not "explanations appear...".
        explanation = str(app.query_one(Explanation).content)
        assert explanation == f"No epoch finished in this run: {NO_TRAINING_NOTE}."
        # The Output tab has kmon's word among the script's lines.
        await pilot.press("o")
        await wait_until(pilot, lambda: "[kmon]" in log_text(app))
        lines = log_text(app).splitlines()  # wrapped at the pane's width
        assert lines[0] == "preparing data only"
        assert " ".join(" ".join(lines[1:]).split()) == f"[kmon] warning: {NO_TRAINING_NOTE}"


async def test_replay_of_a_log_cut_short_does_not_say_training_forever(tmp_path):
    whole = DATA / "three_heads.jsonl"
    lines = whole.read_text(encoding="utf-8").splitlines(keepends=True)
    cut = tmp_path / "cut.jsonl"
    cut.write_text("".join(lines[: len(lines) // 2]) + lines[len(lines) // 2][:30], "utf-8")

    app = MonitorApp(LogFileSource(cut))
    async with running(app, (100, 30)) as pilot:
        await wait_until(pilot, lambda: app.state.finished)
        await pilot.pause()
        header = header_text(app)
        assert "… the log ends here (no run_end)" in header and "training" not in header
        assert [n.text for n in app.state.notices] == [UNFINISHED_NOTE]
    # A whole log ends with its own run_end, and nothing is made up.
    source = LogFileSource(whole)
    events = []
    while source.running:
        events += source.drain()
    assert events[-1].type == "run_end" and events[-1].status == "ok"
    assert not [e for e in events if e.type == "notice" and e.text == UNFINISHED_NOTE]


# -- keys -----------------------------------------------------------------------------


async def test_question_mark_opens_help_and_escape_closes_it():
    app = MonitorApp(RecordedSource(load_events("two_fits")))
    async with running(app, SIZE) as pilot:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        texts = " ".join(str(w.content) for w in app.screen.query("Label, Static"))
        assert "kmon — keys" in texts
        assert "What the series mean" in texts
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)
        assert app.return_value is None


async def test_q_on_a_finished_recording_exits_done():
    app = MonitorApp(RecordedSource(load_events("two_fits")))
    async with running(app, SIZE) as pilot:
        await wait_until(pilot, lambda: app.state.finished)
        await pilot.press("q")
        await wait_until(pilot, lambda: app.return_value is not None)
    assert app.return_value == "done"


async def test_ctrl_c_on_a_recording_exits_done():
    app = MonitorApp(RecordedSource(load_events("failed")))
    async with running(app, SIZE) as pilot:
        await pilot.press("ctrl+c")
        await wait_until(pilot, lambda: app.return_value is not None)
    assert app.return_value == "done"


# -- terminal size ----------------------------------------------------------------------


async def test_too_small_terminal_says_so_and_recovers_on_resize():
    app = MonitorApp(RecordedSource(load_events("two_fits")))
    async with running(app, (50, 12)) as pilot:
        await pilot.pause()
        main, notice = app.query_one("#main"), app.query_one("#too-small", Label)
        assert not main.display
        assert notice.display
        message = str(notice.content)
        assert "Terminal too small (50x12)" in message
        assert "at least 60x16" in message

        await pilot.resize_terminal(80, 24)
        await wait_until(pilot, lambda: main.display)
        assert not notice.display
        await pilot.pause()
        assert app.query_one("#batch-values").region.height > 0
        assert app.query_one(EpochChart).region.height > 0

        await pilot.resize_terminal(59, 30)
        await wait_until(pilot, lambda: not main.display)
        assert "Terminal too small (59x30)" in str(notice.content)


async def test_replay_is_independent_of_the_wall_clock():
    """A recording's elapsed time comes from its own timestamps."""
    events = load_events("two_fits")
    elapsed = format_duration(events[-1].t - events[0].t)

    async def scenario(clock):
        app = MonitorApp(RecordedSource(events), clock=clock)
        async with running(app, SIZE) as pilot:
            await wait_until(pilot, lambda: app.state.finished)
            await pilot.pause()
            return header_text(app)

    early = await scenario(lambda: 0.0)
    late = await scenario(lambda: 4e9)
    assert early == late
    assert f"elapsed {elapsed}" in early


@pytest.mark.parametrize("stopped_early", [True, False])
async def test_the_header_says_when_a_fit_stopped_before_its_last_epoch(stopped_early):
    stream = EventStream(100.0).run_start("train.py", argv=["train.py"])
    stream.fit_start(epochs=40, steps=2).epoch_start()
    stream.wait(0.5).batch({"loss": 1.0}).wait(0.5).batch({"loss": 0.9}).epoch_end()
    stream.fit_end(stopped_early=stopped_early).wait(0.5).run_end()

    async with replayed(stream, SIZE) as (app, pilot):
        first_line = header_text(app).splitlines()[0]
        assert ("epoch 1/40 (stopped early)" in first_line) is stopped_early, first_line
        assert "✔ finished" in first_line


def test_the_scripts_last_lines_are_printed_plain_after_the_monitor(capsys):
    from kmon.engine.events import Log
    from kmon.engine.view.state import RunState
    from kmon.tui.launch import OUTPUT_TAIL_LINES, _print_output_tail

    state = RunState()
    _print_output_tail(state, "run.jsonl")
    assert capsys.readouterr().out == ""  # nothing printed, nothing said
    lines = [f"line {n}" for n in range(OUTPUT_TAIL_LINES + 5)]
    lines[-1] = "\x1b[1;32mtest accuracy 0.93\x1b[0m\x1b[?1049h"
    state.apply_all([Log(stream="stdout", text=text, t=1.0) for text in lines])
    _print_output_tail(state, "run.jsonl")
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == (
        f"kmon: the script's output (its last {OUTPUT_TAIL_LINES} of {len(lines)}; "
        "all of them: kmon replay run.jsonl, then o):"
    )
    assert printed[1:] == [*lines[5:-1], "test accuracy 0.93"]
    assert "\x1b" not in "".join(printed)  # no line can switch the terminal's screen
