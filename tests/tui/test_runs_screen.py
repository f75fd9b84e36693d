"""The Runs screen under Pilot: every run of the index and the runs folder, live
rows, filter, sort, marks, compare, delete (never a running run), and logs that are
deleted or cut short meanwhile."""

from __future__ import annotations

import dataclasses
import time

from textual.widgets.data_table import ColumnKey

from kmon.engine.events import Alarm, Batch, EpochEnd, FitStart, RunEnd, RunStart
from kmon.engine.log.process_identity import of_this_process
from kmon.engine.log.runs_index import read_index
from kmon.engine.log.writer import EventLogWriter
from kmon.tui.runs_app import RunsApp
from kmon.tui.screens.runs import ConfirmDelete, RunsPanel
from kmon.tui.widgets.runs_table import RunsTable

T0 = 1_700_000_000.0
#: A pid no process holds (Linux hands out at most 4,194,304).
NO_PID = 4_194_000


def write_run(
    path, *, what="train.py", end="ok", epochs=3, val=(0.9, 0.5, 0.7), live=False, alarm=False, t=T0
):
    """A run's log through the writer every run uses (which indexes it)."""
    me = of_this_process()
    writer = EventLogWriter(path)
    writer.put(
        RunStart(
            script=f"/x/{what}",
            pid=me.pid if live else NO_PID,
            start_time=me.start_time if live else None,
            boot_id=me.boot_id if live else None,
            t=t,
        )
    )
    writer.put(FitStart(epochs=10, steps=4, t=t + 1))
    for epoch in range(epochs):
        for step in range(4):
            writer.put(
                Batch(
                    epoch=epoch,
                    step=step,
                    logs={"loss": 2.0 - epoch - step / 10},
                    t=t + 2 + epoch * 10 + step,
                )
            )
        writer.put(
            EpochEnd(
                epoch=epoch,
                logs={"loss": 1.5 - epoch / 10, "val_loss": val[epoch]},
                t=t + 10 + epoch * 10,
            )
        )
    if alarm:
        writer.put(Alarm(kind="nan_loss", state="raised", severity="error", t=t + 40))
    if end:
        writer.put(RunEnd(status=end, t=t + 50))
    writer.close()


async def rows_shown(pilot, app, count: int, timeout: float = 10.0) -> RunsTable:
    table = app.query_one(RunsTable)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        await pilot.pause(0.05)
        if table.row_count == count:
            return table
    raise AssertionError(f"{table.row_count} rows, not {count}")


def cell(table: RunsTable, key: str, column: str) -> str:
    return str(table.get_cell(key, column))


def column_texts(table: RunsTable, column: str) -> list[str]:
    return [str(table.get_cell(row.key, column)) for row in table.ordered_rows]


async def test_rows_show_every_column_from_the_index_and_the_folder(tmp_path):
    elsewhere = tmp_path / "elsewhere" / "far.jsonl"
    write_run(elsewhere, what="far.py", alarm=True, end="failed")
    folder = tmp_path / "kmon-runs"
    write_run(folder / "near.jsonl", what="near.py", t=T0 + 100)
    app = RunsApp(folder, refresh_seconds=0.2)
    async with app.run_test(size=(170, 20)) as pilot:
        table = await rows_shown(pilot, app, 2)
        far = str(elsewhere)
        assert cell(table, far, "status") == "failed"
        assert cell(table, far, "what") == "far.py"
        assert cell(table, far, "progress") == "3/10"
        assert cell(table, far, "val_loss") == "0.5000"
        assert cell(table, far, "loss") == "1.3000"
        assert cell(table, far, "alarms") == "1"
        assert cell(table, far, "duration") == "0:50"
        assert column_texts(table, "what") == ["near.py", "far.py"]  # newest first
        assert "2 runs in the runs index" in str(app.query_one("#runs-where").render())


async def test_a_live_run_updates_in_place(tmp_path):
    log = tmp_path / "live.jsonl"
    me = of_this_process()
    writer = EventLogWriter(log)
    writer.put(
        RunStart(
            script="/x/live.py",
            pid=me.pid,
            start_time=me.start_time,
            boot_id=me.boot_id,
            t=time.time() - 20,
        )
    )
    writer.put(FitStart(epochs=4, steps=2, t=time.time() - 20))
    writer.put(EpochEnd(epoch=0, logs={"loss": 1.0, "val_loss": 2.0}, t=time.time() - 10))
    writer.close()
    app = RunsApp(tmp_path / "none", refresh_seconds=0.1)
    async with app.run_test(size=(170, 20)) as pilot:
        table = await rows_shown(pilot, app, 1)
        key = str(log)
        assert cell(table, key, "status") == "running"
        assert cell(table, key, "progress") == "1/4"
        eta = cell(table, key, "eta")
        assert eta != "-"
        with open(log, "a") as file:
            file.write(EpochEnd(epoch=1, logs={"loss": 0.5, "val_loss": 1.5}).to_json() + "\n")
        deadline = time.monotonic() + 10
        while cell(table, key, "progress") != "2/4" and time.monotonic() < deadline:
            await pilot.pause(0.1)
        assert cell(table, key, "progress") == "2/4"
        assert cell(table, key, "val_loss") == "1.5000"
        assert table.row_count == 1


async def test_filter_and_sort(tmp_path):
    for n, what in enumerate(("alpha.py", "beta.py", "gamma.py")):
        write_run(
            tmp_path / f"{what}.jsonl",
            what=what,
            t=T0 + 100 * n,
            val=(0.9, 0.3 + n / 10 if n != 1 else 0.1, 0.8),
        )
    app = RunsApp(tmp_path, refresh_seconds=0.2)
    async with app.run_test(size=(170, 20)) as pilot:
        table = await rows_shown(pilot, app, 3)
        await pilot.press("slash", *"eta")
        await pilot.pause(0.1)
        assert column_texts(table, "what") == ["beta.py"]
        await pilot.press("escape")
        await pilot.pause(0.1)
        assert table.row_count == 3
        table.sort_by("val_loss")
        assert column_texts(table, "what") == ["beta.py", "alpha.py", "gamma.py"]
        table.sort_by("val_loss")
        assert column_texts(table, "what") == ["gamma.py", "alpha.py", "beta.py"]
        what = [column.key.value for column in table.ordered_columns].index("what")
        x = sum(column.get_render_width(table) for column in table.ordered_columns[:what])
        await pilot.click(RunsTable, offset=(x + 2, 0))  # the "what" header
        await pilot.pause(0.1)
        assert table.sort_column == "what"


async def test_mark_then_compare_posts_the_marked_runs(tmp_path):
    for n in range(3):
        write_run(tmp_path / f"r{n}.jsonl", t=T0 + n)
    app = RunsApp(tmp_path, refresh_seconds=0.2)
    async with app.run_test(size=(170, 20)) as pilot:
        await rows_shown(pilot, app, 3)
        await pilot.press("space", "down", "down", "space", "c")
        await pilot.pause(0.1)
    # Newest first: the first and third rows are the last and first runs.
    assert app.return_value == ("compare", [tmp_path / "r2.jsonl", tmp_path / "r0.jsonl"])


async def test_enter_replays_an_ended_run_and_attaches_a_running_one(tmp_path):
    write_run(tmp_path / "a.jsonl", t=T0)
    app = RunsApp(tmp_path, refresh_seconds=0.2)
    async with app.run_test(size=(170, 20)) as pilot:
        await rows_shown(pilot, app, 1)
        await pilot.press("enter")
        await pilot.pause(0.1)
    assert app.return_value == ("replay", [tmp_path / "a.jsonl"])
    write_run(tmp_path / "b.jsonl", t=T0 + 5, end=None, live=True)
    app = RunsApp(tmp_path, refresh_seconds=0.2)
    async with app.run_test(size=(170, 20)) as pilot:
        await rows_shown(pilot, app, 2)
        await pilot.press("enter")  # the newest, first
        await pilot.pause(0.1)
    assert app.return_value == ("attach", [tmp_path / "b.jsonl"])


async def test_delete_asks_first_and_never_deletes_a_running_run(tmp_path):
    write_run(tmp_path / "done.jsonl", t=T0)
    (tmp_path / "done.out").write_text("output")
    write_run(tmp_path / "live.jsonl", t=T0 + 5, end=None, live=True)
    app = RunsApp(tmp_path, refresh_seconds=0.2)
    async with app.run_test(size=(170, 20)) as pilot:
        table = await rows_shown(pilot, app, 2)
        await pilot.press("d")  # the running one, newest, first
        await pilot.pause(0.1)
        assert not isinstance(app.screen, ConfirmDelete)
        assert (tmp_path / "live.jsonl").exists()
        await pilot.press("down", "d")
        await pilot.pause(0.1)
        assert isinstance(app.screen, ConfirmDelete)
        await pilot.press("n")
        await pilot.pause(0.1)
        assert (tmp_path / "done.jsonl").exists()
        await pilot.press("d")
        await pilot.pause(0.1)
        await pilot.press("y")
        await rows_shown(pilot, app, 1)
        assert not (tmp_path / "done.jsonl").exists() and not (tmp_path / "done.out").exists()
        assert [e.run_id for e in read_index().entries] == ["live"]
        assert column_texts(table, "run") == ["live"]


async def test_deleted_and_truncated_logs_show_as_such(tmp_path):
    write_run(tmp_path / "gone.jsonl", t=T0)
    write_run(tmp_path / "cut.jsonl", t=T0 + 5)
    write_run(tmp_path / "shrunk.jsonl", t=T0 + 9)
    app = RunsApp(tmp_path / "elsewhere", refresh_seconds=0.1)
    async with app.run_test(size=(170, 20)) as pilot:
        table = await rows_shown(pilot, app, 3)
        (tmp_path / "gone.jsonl").unlink()
        with open(tmp_path / "cut.jsonl", "r+b") as file:
            file.truncate(20)
        lines = (tmp_path / "shrunk.jsonl").read_bytes().splitlines(keepends=True)
        (tmp_path / "shrunk.jsonl").write_bytes(b"".join(lines[:3]))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            await pilot.pause(0.1)
            if cell(table, str(tmp_path / "shrunk.jsonl"), "status").endswith("truncated"):
                break
        assert cell(table, str(tmp_path / "gone.jsonl"), "status") == "missing"
        assert cell(table, str(tmp_path / "cut.jsonl"), "status") == "truncated"
        assert cell(table, str(tmp_path / "shrunk.jsonl"), "status") == "stale, truncated"
        await pilot.press("down", "down", "enter")  # the missing one (oldest): says so, stays
        await pilot.pause(0.1)
        assert app.return_value is None and app.is_running


async def test_no_runs_says_where_it_looked(tmp_path):
    app = RunsApp(tmp_path / "kmon-runs", refresh_seconds=0.2)
    async with app.run_test(size=(170, 20)) as pilot:
        label = app.query_one("#runs-where")
        deadline = time.monotonic() + 10
        while "no runs" not in str(label.render()) and time.monotonic() < deadline:
            await pilot.pause(0.05)
        text = str(label.render())
        assert text.startswith("no runs in the runs index (") and "kmon-runs" in text
        assert app.query_one(RunsPanel).table.row_count == 0


def test_runs_screen_snapshot(snap_compare, tmp_path, monkeypatch, runs_index_home):
    """Ended, failed (with an alarm), stale and missing runs, at fixed times and host."""
    import kmon.engine.log.indexed_runs as indexed_runs
    import kmon.engine.log.run_rows as run_rows
    import kmon.engine.log.run_scan as run_scan
    import kmon.engine.log.runs_index as runs_index

    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    monkeypatch.setenv("HOME", str(runs_index_home))
    for module in (runs_index, indexed_runs, run_rows, run_scan):
        monkeypatch.setattr(module, "this_host", lambda: "box")
    monkeypatch.chdir(tmp_path)
    write_run(tmp_path / "kmon-runs" / "a-ok.jsonl", what="mnist.py", t=T0)
    write_run(
        tmp_path / "kmon-runs" / "b-failed.jsonl",
        what="lstm.py",
        alarm=True,
        end="failed",
        t=T0 + 3600,
    )
    write_run(tmp_path / "kmon-runs" / "c-stale.jsonl", what="cnn.py", end=None, t=T0 + 7200)
    write_run(tmp_path / "kmon-runs" / "d-gone.jsonl", t=T0 + 9000)
    (tmp_path / "kmon-runs" / "d-gone.jsonl").unlink()

    async def loaded(pilot) -> None:
        table = pilot.app.query_one(RunsTable)
        for _ in range(200):
            await pilot.pause(0.05)
            if table.row_count == 4 and all(
                r.complete or r.status == "missing" for r in table.rows_by_key.values()
            ):
                break

    try:
        assert snap_compare(
            RunsApp("kmon-runs", refresh_seconds=60), terminal_size=(150, 14), run_before=loaded
        )
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


async def test_column_widths_fit_every_cell_as_datatable_measures_it(tmp_path):
    """The table sizes its columns from the texts, not by rendering each cell: the
    widths must be DataTable's own, and markup or emoji codes in a name stay text."""
    from textual.widgets import DataTable

    write_run(tmp_path / "a.jsonl", what="[bold]x.py", t=T0)
    write_run(tmp_path / "b.jsonl", what=":smile:日本語.py", t=T0 + 5, end="failed")
    app = RunsApp(tmp_path, refresh_seconds=60)
    async with app.run_test(size=(170, 20)) as pilot:
        table = await rows_shown(pilot, app, 2)
        await pilot.pause(0.1)
        assert column_texts(table, "what") == [":smile:日本語.py", "[bold]x.py"]
        widths = {key: column.content_width for key, column in table.columns.items()}
        assert widths[ColumnKey("what")] == len(":smile:") + 6 + len(".py")
        DataTable._update_dimensions(table, list(table.rows))  # DataTable's measure
        assert {key: column.content_width for key, column in table.columns.items()} == widths
        screen = app.export_screenshot()
        assert "[bold]x.py" in screen and ":smile:" in screen
        # A value wider than its column (a longer ETA) widens the column.
        row = table.rows_by_key[str(tmp_path / "a.jsonl")]
        longer = dataclasses.replace(row, status="running", eta=123_456.0)
        table.show([longer, table.rows_by_key[str(tmp_path / "b.jsonl")]])
        await pilot.pause(0.1)
        eta = cell(table, str(tmp_path / "a.jsonl"), "eta")
        assert len(eta) > 3 and table.columns[ColumnKey("eta")].content_width >= len(eta)


async def test_passes_are_spaced_and_post_only_changes(tmp_path, monkeypatch):
    """No pass follows another at once, and one that changed nothing posts nothing."""
    import kmon.tui.screens.runs as runs_screen

    for n in range(3):
        write_run(tmp_path / f"r{n}.jsonl", t=T0 + n)
    scans = []
    real_scan = runs_screen.RunScanner.scan
    monkeypatch.setattr(
        runs_screen.RunScanner, "scan", lambda self: scans.append(1) or real_scan(self)
    )
    shown = []
    real_show = RunsTable.show
    monkeypatch.setattr(
        RunsTable, "show", lambda self, rows: shown.append(1) or real_show(self, rows)
    )
    app = RunsApp(tmp_path, refresh_seconds=0.4)
    async with app.run_test(size=(170, 20)) as pilot:
        await rows_shown(pilot, app, 3)
        started = time.monotonic()
        await pilot.pause(1.2)
        elapsed = time.monotonic() - started
    assert len(scans) <= 2 + elapsed / 0.4
    assert len(shown) == 1  # three small ended logs: all digested on the first pass


def test_compare_opens_the_compare_screen_on_the_marked_logs(tmp_path, monkeypatch):
    """``c`` on the Runs screen ends in ``open_run(("compare", logs))``: the compare
    app over those logs, a log deleted meanwhile left out."""
    import shutil

    from locations import DATA

    import kmon.tui.launch
    from kmon.tui.runs_app import open_run
    from kmon.tui.screens.compare import CompareApp

    logs = [tmp_path / "a.jsonl", tmp_path / "b.jsonl", tmp_path / "gone.jsonl"]
    shutil.copy(DATA / "two_fits.jsonl", logs[0])
    shutil.copy(DATA / "three_heads.jsonl", logs[1])
    opened = []
    monkeypatch.setattr(
        kmon.tui.launch, "run_app", lambda app, mouse=True: (opened.append(app), None)
    )

    assert open_run(("compare", logs)) is None

    [app] = opened
    assert isinstance(app, CompareApp)
    assert [run.name for run in app.comparison.runs] == [str(log) for log in logs[:2]]


async def test_rows_off_screen_are_added_after_the_first_frame(tmp_path):
    """A long table shows its first screenfuls at once and the rest after that
    frame; a change or a sort meanwhile loses no row and shows no stale text."""
    from pathlib import Path

    from textual.app import App

    from kmon.engine.log.run_rows import RunRow
    from kmon.tui.widgets import runs_table

    count = runs_table.FIRST_ROWS + 150

    def rows(loss: float) -> list[RunRow]:
        return [
            RunRow(Path(f"/runs/{n:04d}.jsonl"), f"{n:04d}", "ok", started=T0 + n, last_loss=loss)
            for n in range(count)
        ]

    class TableApp(App):
        def compose(self):
            yield RunsTable()

    app = TableApp()
    async with app.run_test(size=(120, 30)) as pilot:
        table = app.query_one(RunsTable)
        table.show(rows(0.5))
        assert 0 < table.row_count < count and not table.complete
        assert table.first_frame_at is None
        table.show(rows(0.25))  # the same rows and order, new losses, before that frame
        await pilot.pause()
        assert table.complete and table.row_count == count
        assert table.first_frame_at is not None
        assert {str(table.get_cell(row.key, "loss")) for row in table.ordered_rows} == {"0.2500"}
        assert str(table.get_cell(table.ordered_rows[0].key, "run")) == f"{count - 1:04d}"
        table.move_cursor(row=5)  # newest first: the sixth newest run
        table.sort_by("started")  # again: ascending, the first run first
        assert not table.complete and table.current_key() == f"/runs/{count - 6:04d}.jsonl"
        await pilot.pause()
        assert table.complete and table.row_count == count
        assert str(table.get_cell(table.ordered_rows[0].key, "run")) == "0000"
        assert table.current_key() == f"/runs/{count - 6:04d}.jsonl"  # the cursor kept its run


async def test_the_first_pass_reads_only_the_first_rows_logs(tmp_path, monkeypatch):
    """The first rows come from the first runs' logs alone, with the count of all;
    every run follows after the frame that shows them."""
    import kmon.tui.screens.runs as runs_screen

    monkeypatch.setattr(runs_screen, "FIRST_ROWS", 2)
    for n in range(5):
        write_run(tmp_path / f"r{n}.jsonl", what=f"r{n}.py", t=T0 + n)
    posts = []
    real_init = RunsPanel.RowsRead.__init__

    def spy(self, rows, *args, **kwargs):
        real_init(self, rows, *args, **kwargs)
        posts.append(([row.what for row in rows], self.total, self.partial))

    monkeypatch.setattr(RunsPanel.RowsRead, "__init__", spy)
    app = RunsApp(tmp_path, refresh_seconds=0.4)
    async with app.run_test(size=(170, 20)) as pilot:
        table = await rows_shown(pilot, app, 5)
        assert column_texts(table, "what") == [f"r{n}.py" for n in reversed(range(5))]
        assert "5 runs in the runs index" in str(app.query_one("#runs-where").render())
    assert posts[0] == (["r4.py", "r3.py"], 5, True)  # the newest, as the table opens
    assert posts[1] == ([f"r{n}.py" for n in reversed(range(5))], 5, False)
