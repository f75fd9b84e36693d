"""Where the constant-predictor baselines and the "not learning yet" info show: the
Heads grid, the Loss tab's epoch chart, headless epoch lines and summary, the Alarms
tab and the header badge. On recorded and hand-built events."""

from __future__ import annotations

import io

from event_stream import load_events
from model_events import fit, models_run
from rich.console import Console
from textual.widgets import DataTable, Static
from tui_helpers import running, wait_until

from kmon.engine.alarms.kinds import INFO, NOT_LEARNING_YET
from kmon.engine.events import Alarm, Baselines, Event
from kmon.engine.format import format_value
from kmon.engine.headless.reporter import HeadlessReporter
from kmon.engine.log.sources import RecordedSource
from kmon.engine.view.head_cells import versus_constant
from kmon.engine.view.state import RunState
from kmon.tui.app import MonitorApp
from kmon.tui.widgets.alarm_pane import NO_ALARMS
from kmon.tui.widgets.epoch_chart import CONSTANT_LABEL, EpochChart
from kmon.tui.widgets.head_grid import CONSTANT_LEGEND, HeadGrid
from kmon.tui.widgets.run_header import RunHeader

SIZE = (110, 34)
HEADS = {"is_positive": 0.6931, "topic_id": 1.3863, "loss_ratio": 0.9}
WEIGHTS = {"is_positive": 1.0, "topic_id": 0.5, "loss_ratio": 2.0}


def baselines_event(fit_number: int, values: dict[str, float], total: float | None, t: float):
    by_head = {
        head: {"loss": "x", "value": value, "method": "m", "rows": 100, "weighted": None}
        for head, value in values.items()
    }
    return Baselines(fit=fit_number, by_head=by_head, total=total, t=t)


def with_baselines(events: list[Event]) -> list[Event]:
    """The recorded three-head run with a ``baselines`` event after its fit_start."""
    at = next(i for i, e in enumerate(events) if e.type == "fit_start")
    total = sum(WEIGHTS[head] * value for head, value in HEADS.items())
    extra = baselines_event(0, HEADS, total, events[at].t)
    return [*events[: at + 1], extra, *events[at + 1 :]]


async def replay(events, check, size=SIZE):
    app = MonitorApp(RecordedSource(events))
    async with running(app, size) as pilot:
        await wait_until(pilot, lambda: app.state.finished)
        await pilot.pause()
        await check(app, pilot)


async def test_the_heads_grid_puts_each_training_loss_beside_its_constant():
    events = with_baselines(load_events("three_heads"))
    last = [e.logs for e in events if e.type == "epoch_end"][-1]

    async def check(app, pilot):
        await pilot.press("h")
        await pilot.pause()
        table = app.query_one(HeadGrid).query_one(DataTable)
        rows = {str(row[0]): row for row in (table.get_row_at(i) for i in range(table.row_count))}
        positive = str(rows["is_positive"][2])
        value = last["is_positive_loss"]
        assert positive.startswith(f"{value:.4f}")
        assert positive.endswith(versus_constant(value, 0.6931))
        assert "constant 0.6931 · " in positive
        total = sum(WEIGHTS[h] * v for h, v in HEADS.items())
        assert f"constant {total:.4f}" in str(rows["total"][2])
        # Validation cells and metrics have no constant beside them.
        assert "constant" not in str(rows["is_positive"][3]) + str(rows["is_positive"][4])
        legend = str(app.query_one(HeadGrid).query_one("#head-legend", Static).content)
        assert legend.endswith(CONSTANT_LEGEND)

    await replay(events, check)


def test_versus_constant_words():
    assert versus_constant(0.690, 0.6931) == "constant 0.6931 · 0.45% better"
    assert versus_constant(1.0, 0.8) == "constant 0.8000 · 25% worse"
    assert versus_constant(12.0, 0.5) == "constant 0.5000 · 24x worse"
    assert versus_constant(0.6931, 0.6931) == "constant 0.6931 · no better"


def one_model_run(total: float | None, scale: float = 1.0) -> list[Event]:
    stream = models_run()
    (start,) = stream.events
    fitted = fit(stream, "mlp", model_index=0, epochs=3, scale=scale)
    fitted.insert(1, baselines_event(0, {"dense": total}, total, fitted[0].t))
    stream.run_end()
    return [start, *fitted, stream.events[-1]]


def chart_curves(app):
    monitor = app.query_one(EpochChart).plt._active.monitor
    return list(zip(monitor.label, monitor.x, monitor.y, monitor.marker, strict=True))


async def test_the_loss_chart_draws_the_constant_as_a_dashed_line():
    async def check(app, pilot):
        constant = [c for c in chart_curves(app) if c[0] == CONSTANT_LABEL]
        assert len(constant) == 1
        _label, xs, ys, markers = constant[0]
        assert set(ys) == {1.05} and set(markers) == {"─"}
        # Over the fit's epochs (1 to 3), a dash every other column.
        assert min(xs) == 1 and max(xs) == 3 and len(xs) > 10
        assert CONSTANT_LABEL in str(app.query_one(EpochChart).render())

    await replay(one_model_run(1.05), check)


async def test_a_constant_far_off_the_curves_is_named_in_the_title_instead():
    async def check(app, pilot):
        assert not [c for c in chart_curves(app) if c[0] == CONSTANT_LABEL]
        assert f"{CONSTANT_LABEL} {format_value(40.0)}: off the chart" in str(app.query_one(EpochChart).render())

    await replay(one_model_run(40.0), check)


async def test_without_baselines_nothing_changes():
    async def check(app, pilot):
        assert not [c for c in chart_curves(app) if c[0] == CONSTANT_LABEL]

    events = [e for e in one_model_run(1.05) if e.type != "baselines"]
    await replay(events, check)
    state = RunState()
    state.apply_all(events)
    assert all(record.baselines == {} for record in state.history)


def test_headless_epoch_lines_show_the_constant():
    out = io.StringIO()
    reporter = HeadlessReporter(out, io.StringIO())
    reporter.handle(one_model_run(1.05))
    epoch_lines = [line for line in out.getvalue().splitlines() if " epoch " in line]
    assert epoch_lines and all("(constant 1.0500)" in line for line in epoch_lines)
    assert "loss=0.9700 (constant 1.0500)" in epoch_lines[0]


def info_alarm(t: float, state: str = "raised") -> Alarm:
    return Alarm(
        kind=NOT_LEARNING_YET,
        state=state,
        severity=INFO,
        subject="flag",
        message="head flag: not learning yet (not collapsed)",
        evidence={"head": "flag", "ratio": 0.043, "probe_loss": 0.690, "baseline": 0.6931},
        fit=0,
        epoch=1,
        step=3,
        t=t,
    )


async def test_an_info_shows_in_the_alarms_tab_but_is_never_counted_as_an_alarm():
    events = one_model_run(1.05)
    events.insert(-1, info_alarm(events[-2].t))

    async def check(app, pilot):
        await pilot.press("a")
        await pilot.pause()
        console = Console(width=106, file=io.StringIO(), color_system=None)
        console.print(app.query_one("#alarm-body", Static).content)
        text = " ".join(console.file.getvalue().split())
        assert text.startswith(f"✔ {NO_ALARMS}")
        assert "not_learning_yet · flag — a head learns slowly: not collapsed [info" in text
        assert "probe loss 0.6900 · baseline 0.6931" in text
        assert "⚠" not in str(app.query_one(RunHeader).text)

    await replay(events, check)


def test_headless_prints_an_info_as_info_and_quiet_leaves_it_out():
    events = one_model_run(1.05)
    events.insert(-1, info_alarm(events[-2].t))
    out = io.StringIO()
    reporter = HeadlessReporter(out, io.StringIO())
    reporter.handle(events)
    reporter.finish()
    text = out.getvalue()
    assert "info raised: not_learning_yet flag [info]" in text
    assert "alarm active" not in text and "info: not_learning_yet flag" in text
    quiet = io.StringIO()
    reporter = HeadlessReporter(quiet, io.StringIO(), quiet=True)
    reporter.handle(events)
    assert "not_learning_yet" not in quiet.getvalue()
