"""The compare model on recorded real runs: shared and lacking metrics, final and
best values, x axes, per-batch series, fit settings, alarms; and its inputs."""

from __future__ import annotations

import shutil

from locations import DATA

from kmon.engine.log.compare_inputs import load_inputs, open_inputs, read_batches
from kmon.engine.log.eventlog import read_events
from kmon.engine.view.compare import (
    EPOCH,
    PALETTE,
    SINCE_START,
    STEP,
    WALL,
    Comparison,
    fold_runs,
)


def _comparison(*names: str) -> Comparison:
    runs, problems = load_inputs([str(DATA / name) for name in names])
    assert problems == []
    return Comparison([(run.name, run.kind, run.events) for run in runs])


def test_runs_keep_their_order_and_colour_and_share_what_all_logged():
    comparison = _comparison("two_fits.jsonl", "failed.jsonl", "two_fits.jsonl")
    assert [run.colour for run in comparison.runs] == list(PALETTE[:3])
    assert comparison.shared() == ["loss"]
    assert comparison.metrics() == ["loss", "val_loss"]
    assert comparison.lacking() == {"2 failed.py": ["val_loss"]}


def test_final_and_best_are_the_epoch_values_logged():
    run = _comparison("two_fits.jsonl").runs[0]
    events, _ = read_events(DATA / "two_fits.jsonl")
    losses = [event.logs["loss"] for event in events if event.type == "epoch_end"]
    assert run.final("loss") == losses[-1]
    assert run.best("loss") == (min(losses), losses.index(min(losses)) + 1)
    assert run.final("nothing") is None and run.best("nothing") is None


def test_epoch_points_on_each_x_axis():
    run = _comparison("two_fits.jsonl").runs[0]
    events, _ = read_events(DATA / "two_fits.jsonl")
    ends = [event for event in events if event.type == "epoch_end"]
    losses = [end.logs["loss"] for end in ends]
    assert run.epoch_points("loss", EPOCH) == [(n + 1.0, v) for n, v in enumerate(losses)]
    assert [x for x, _ in run.epoch_points("loss", STEP)] == [4.0, 8.0, 12.0, 16.0, 20.0]
    assert [x for x, _ in run.epoch_points("loss", WALL)] == [end.t for end in ends]
    since = [x for x, _ in run.epoch_points("loss", SINCE_START)]
    assert since == [end.t - events[0].t for end in ends] and since[0] > 0


def test_batch_points_are_recovered_values_as_bucket_means():
    run = _comparison("two_fits.jsonl").runs[0]
    points, what = run.batch_points("loss")
    assert what == "each batch's own value (recovered)"
    events, _ = read_events(DATA / "two_fits.jsonl")
    values = [event.values["loss"] for event in events if event.type == "batch"]
    # 20 batches fit in the buckets one each: the points are the batches' own values.
    assert points == [(n + 1.0, v) for n, v in enumerate(values)]
    assert run.batch_points("val_loss") is None


def test_a_csv_logger_file_has_epochs_but_no_times(tmp_path):
    path = tmp_path / "history.csv"
    path.write_text("epoch,loss,mse\n0,0.5,0.4\n1,0.25,0.2\n", encoding="utf-8")
    runs, problems = load_inputs([str(path), str(DATA / "two_fits.jsonl")])
    comparison = Comparison([(run.name, run.kind, run.events) for run in runs])
    csv_run = comparison.runs[0]
    assert csv_run.kind == "CSVLogger" and not csv_run.timed
    assert csv_run.epoch_points("loss", EPOCH) == [(1.0, 0.5), (2.0, 0.25)]
    assert csv_run.epoch_points("loss", WALL) == [] and csv_run.duration is None
    assert csv_run.best("mse") == (0.2, 2)
    assert comparison.table()[1][:4] == ["1 history.csv", "CSVLogger", "2", "—"]


def test_the_table_and_report_say_fit_settings_alarms_and_durations():
    comparison = _comparison("alarms.jsonl", "two_fits.jsonl")
    header, first, second = comparison.table()
    assert header[:5] == ["run", "source", "epochs", "duration", "alarms"]
    assert first[4] != "none" and second[4] == "none"
    events, _ = read_events(DATA / "alarms.jsonl")
    raised = {event.kind for event in events if event.type == "alarm" and event.state == "raised"}
    assert raised and all(kind in first[4] for kind in raised)
    report = comparison.report()
    assert "fit 0: 3 epochs, 4 steps, batch 16, 64 samples; fit 1: 2 epochs" in report
    # Too wide for an 80-column terminal: the metrics become rows, a column a run.
    narrow = comparison.report(80)
    assert report.splitlines()[0].startswith("run ") and len(report.splitlines()[0]) > 80
    lines = narrow.splitlines()
    assert lines[0].split() == header[:4]
    assert lines[3] == ""
    assert lines[4].split() == ["metric", *" ".join([first[0], second[0]]).split()]
    by_name = {line[: lines[4].index(first[0])].strip(): line
               for line in lines[5 : lines.index("alarms:") - 1]}
    assert set(header[5:]) <= set(by_name)
    final_loss = by_name["final loss"].split()[2:]
    assert final_loss == [first[header.index("final loss")], second[header.index("final loss")]]
    assert max(len(line) for line in lines[: lines.index("alarms:")]) <= 80
    alarms = lines.index("alarms:")
    assert lines[alarms + 1 : alarms + 3] == [f"  {first[0]}: {first[4]}", f"  {second[0]}: none"]


def test_inputs_that_are_not_runs_get_one_line_each(tmp_path):
    shutil.copy(DATA / "failed.jsonl", tmp_path / "ok.jsonl")
    (tmp_path / "text.jsonl").write_text("hello\n", encoding="utf-8")
    (tmp_path / "empty.csv").write_text("loss\n1\n", encoding="utf-8")
    (tmp_path / "runs").mkdir()
    names = ["ok.jsonl", "text.jsonl", "empty.csv", "gone.jsonl"]
    runs, problems = load_inputs([str(tmp_path / name) for name in names], tmp_path / "runs")
    assert [run.name for run in runs] == [str(tmp_path / "ok.jsonl")]
    assert len(problems) == 3
    assert problems[0].endswith("text.jsonl: not a kmon event log")
    assert "no 'epoch' column" in problems[1]
    assert problems[2].endswith("gone.jsonl: no such file or folder: " + names[3].join(
        [str(tmp_path) + "/", ""]))
    runs, problems = load_inputs(["gone"], tmp_path / "runs")
    assert problems == [f"gone: no such file or folder, and no run 'gone' in {tmp_path}/runs "
                        "(see `kmon ps`)"]
    # A run id of the runs folder.
    shutil.copy(DATA / "failed.jsonl", tmp_path / "runs" / "20261203-abc.jsonl")
    runs, problems = load_inputs(["20261203-abc"], tmp_path / "runs")
    assert problems == [] and runs[0].path.name == "20261203-abc.jsonl"


def test_batch_points_cover_every_model_of_a_run_on_any_x_axis(tmp_path, stream):
    """Two models in one log: the per-batch view has both, numbered by the run's
    batch, or at their times; a folded log gives what its events give."""
    stream.tick = 0.5
    stream.run_start("two_models.py")
    for model in ("first", "second"):
        stream.fit_start(epochs=1, steps=300, model=model, model_index=len(model))
        stream.epoch([1.0 + step % 3 for step in range(300)], size=4).fit_end()
    path = stream.run_end().write(tmp_path / "two_models.jsonl")
    batches = [event for event in stream.events if event.type == "batch"]
    comparison, problems = fold_runs(open_inputs([str(path)]))
    assert problems == []
    run = comparison.runs[0]
    assert len(run.state.segments) == 2
    # Its batches are read only for the per-batch view, and not before.
    assert run.batch_points("loss") is None and comparison.pending_batches() == [path]
    comparison.add_batches(read_batches(comparison.pending_batches()))
    assert comparison.pending_batches() == [] and comparison.batches_read
    points, what = run.batch_points("loss", STEP)
    assert what == "each batch's own value (recovered)"
    assert [x for x, _ in points] == [1.0 + 2 * n for n in range(300)]  # 600 in 300 buckets
    assert points[0][1] == (batches[0].values["loss"] + batches[1].values["loss"]) / 2
    wall = run.batch_points("loss", WALL)[0]
    assert [x for x, _ in wall] == [batches[2 * n].t for n in range(300)]
    since = run.batch_points("loss", SINCE_START)[0]
    assert since[0][0] == batches[0].t - stream.events[0].t > 0
    same = Comparison([("x", "kmon log", read_events(path)[0])]).runs[0]
    assert same.batch_points("loss", WALL) == run.batch_points("loss", WALL)


def test_a_key_some_batches_lack_is_not_drawn_per_batch(stream):
    stream.run_start("x.py").fit_start(epochs=1, steps=3).epoch_start()
    stream.batch({"loss": 1.0, "acc": 0.5}).batch({"loss": 0.9}).epoch_end()
    run = Comparison([("x", "kmon log", stream.run_end().events)]).runs[0]
    assert run.batch_points("acc") is None
    points, what = run.batch_points("loss")
    assert points == [(1.0, 1.0), (2.0, 0.9)] and what.startswith("running mean")
