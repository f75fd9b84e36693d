"""The head board folded from a recorded three-head run (tests/data/three_heads.jsonl),
its sentences, its cells while a run is in progress, and headless mode's tables."""

from __future__ import annotations

import io

from event_stream import EventStream, load_events

from kmon.engine.events import (
    FitStart,
    ValueKinds,
    event_from_json,
)
from kmon.engine.headless.reporter import HeadlessReporter
from kmon.engine.view.head_cells import (
    NO_VALIDATION,
    NOT_CONFIGURED,
    PENDING,
    PER_HEAD_ONLY,
    grid_cell,
    grid_rows,
    table_lines,
)
from kmon.engine.view.head_text import heads_summary
from kmon.engine.view.state import RunState

HEADS = {
    "is_positive": {
        "loss": "binary_crossentropy",
        "weight": 1.0,
        "metrics": ["is_positive_accuracy"],
        "loss_key": "is_positive_loss",
    },
    "topic_id": {
        "loss": "sparse_categorical_crossentropy",
        "weight": 0.5,
        "metrics": ["topic_id_accuracy"],
        "loss_key": "topic_id_loss",
    },
    "loss_ratio": {"loss": "mse", "weight": 2.0, "metrics": [], "loss_key": "loss_ratio_loss"},
}


def folded(events) -> RunState:
    state = RunState()
    state.apply_all(events)
    return state


def test_recorded_run_carries_the_head_map():
    events = load_events("three_heads")
    (start,) = [e for e in events if e.type == "fit_start"]
    assert start.heads == HEADS
    assert start.extra_losses == []


def test_summary_answers_the_counting_question():
    board = folded(load_events("three_heads")).heads
    assert heads_summary(board) == (
        "4 losses = total + 3 heads (total = 1.0·is_positive + 0.5·topic_id + "
        "2.0·loss_ratio); accuracy on 2 heads: is_positive, topic_id; none on "
        "loss_ratio (regression: mse)"
    )
    assert board.quantities() == ["loss", "accuracy"]


def test_cells_hold_history_and_validation_values_or_say_why_not():
    events = load_events("three_heads")
    board = folded(events).heads
    history = [e.logs for e in events if e.type == "epoch_end"]
    last, before = history[-1], history[-2]
    rows = {row.label: row for row in grid_rows(board)}
    assert list(rows) == ["total", "is_positive", "topic_id", "loss_ratio"]
    assert [row.weight for row in rows.values()] == ["Σ", "×1.0", "×0.5", "×2.0"]

    total = rows["total"].cells
    assert total[("loss", "train")].value == last["loss"]
    assert total[("loss", "val")].value == last["val_loss"]
    assert total[("accuracy", "train")].note == PER_HEAD_ONLY
    ratio = rows["loss_ratio"].cells
    assert ratio[("loss", "train")].value == last["loss_ratio_loss"]
    assert ratio[("loss", "val")].value == last["val_loss_ratio_loss"]
    assert ratio[("accuracy", "train")].note == NOT_CONFIGURED
    assert ratio[("accuracy", "val")].note == NOT_CONFIGURED
    topic = rows["topic_id"].cells[("accuracy", "val")]
    assert topic.value == last["val_topic_id_accuracy"]
    expected = "↑" if last["val_topic_id_accuracy"] > before["val_topic_id_accuracy"] else "↓"
    assert topic.trend == expected
    # No cell is ever blank: a value, or a note saying why there is none.
    for row in rows.values():
        for cell in row.cells.values():
            assert cell.value is not None or cell.note


def test_cells_while_the_first_epoch_runs_and_without_validation():
    stream = EventStream(None).fit_start(epochs=2, steps=2, heads=HEADS)
    logs = {
        "loss": 2.0,
        "is_positive_loss": 0.7,
        "topic_id_loss": 1.0,
        "loss_ratio_loss": 0.4,
        "is_positive_accuracy": 0.5,
        "topic_id_accuracy": 0.3,
    }
    state = folded(stream.epoch_start().batch(logs, size=8).take())
    board = state.heads
    assert grid_cell(board, "is_positive", "accuracy", "train").value == 0.5
    assert grid_cell(board, "is_positive", "accuracy", "train").trend == ""
    assert grid_cell(board, None, "loss", "val").note == PENDING

    state.apply_all(stream.epoch_end().epoch_start().take())
    assert grid_cell(board, None, "loss", "val").note == NO_VALIDATION
    lower = {**logs, "loss": 1.5, "topic_id_accuracy": 0.3}
    state.apply_all(stream.batch(lower, size=8).take())
    assert grid_cell(board, None, "loss", "train").trend == "↓"
    assert grid_cell(board, "topic_id", "accuracy", "train").trend == "→"

    state.apply_all(stream.val_end({"loss": 1.9, "topic_id_accuracy": 0.4}).take())
    assert grid_cell(board, None, "loss", "val").value == 1.9
    assert grid_cell(board, "topic_id", "accuracy", "val").value == 0.4
    # A key the validation did not report: still not blank.
    assert grid_cell(board, "is_positive", "accuracy", "val").note == PENDING


def test_a_new_fit_starts_a_new_board():
    events = load_events("three_heads")
    state = folded(events)
    single = {"out": {"loss": "mse", "weight": 1.0, "metrics": [], "loss_key": None}}
    state.apply(FitStart(fit=1, epochs=1, heads=single))
    assert state.heads.fit == 1 and list(state.heads.heads) == ["out"]
    assert not state.heads.multi_head


def test_table_lines_are_aligned_plain_text():
    board = folded(load_events("three_heads")).heads
    lines = table_lines(board)
    assert lines[0].split() == ["head", "w", "loss", "val_loss", "accuracy", "val_accuracy"]
    assert [line.split()[0] for line in lines[1:]] == [
        "total",
        "is_positive",
        "topic_id",
        "loss_ratio",
    ]
    assert lines[4].split()[-2:] == ["—", "—"]
    assert len({line.index(line.split()[2]) for line in lines}) == 1  # loss column aligned


def test_headless_prints_head_tables_per_epoch_and_at_the_end():
    events = load_events("three_heads")
    out, err = io.StringIO(), io.StringIO()
    reporter = HeadlessReporter(out, err)
    reporter.handle(events)
    reporter.finish()
    lines = out.getvalue().splitlines()
    summary = [line for line in lines if line.startswith("[kmon] heads: 4 losses")]
    assert len(summary) == 1
    assert "in the tables: — not configured, · per head only" in summary[0]
    headers = [i for i, line in enumerate(lines) if line.split()[1:3] == ["head", "w"]]
    assert len(headers) == 3  # two epochs, and the final summary
    final = lines[headers[-1] : headers[-1] + 5]
    last = [e.logs for e in events if e.type == "epoch_end"][-1]
    assert final[1].split()[1:5] == [
        "total",
        "Σ",
        f"{last['loss']:.4f}↓",
        f"{last['val_loss']:.4f}↓",
    ]
    assert lines[headers[-1] - 1].startswith("[kmon] run ok")
    assert lines[-1].startswith("[kmon] heads: Per batch, total = 1.0·is_positive")
    assert "the last batch had 8 samples, not 16" in lines[-1]


def test_head_maps_survive_the_json_round_trip():
    start = FitStart(heads=HEADS, extra_losses=["trunk.kernel_regularizer"])
    assert event_from_json(start.to_json()) == start
    kinds = ValueKinds(kinds={"loss": "mean"}, heads=HEADS)
    assert event_from_json(kinds.to_json()).heads == HEADS
    # Logs written before heads existed still read, with no head map.
    old = '{"v":1,"type":"fit_start","t":1.0,"fit":0,"epochs":1,"outputs":["d"]}'
    assert event_from_json(old).heads is None
    assert FitStart.__dataclass_fields__["extra_losses"].default_factory() == []


def test_log_keys_the_head_map_does_not_explain_are_listed_once_as_they_appear():
    stream = EventStream(None).fit_start(epochs=1, steps=3, heads=HEADS).epoch_start()
    logs = {"loss": 1.0, "is_positive_loss": 0.5}
    stream.batch(logs).batch({**logs, "custom_tracker": 2.0})
    state = folded(stream.batch({**logs, "custom_tracker": 2.0, "other": 1.0}).events)
    assert state.heads.unplaced == ["custom_tracker", "other"]
