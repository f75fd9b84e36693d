"""The scenario menu, driven with Pilot: navigation, filter, choosing, comparing."""

from __future__ import annotations

import shutil

import pytest
from locations import DATA

from kmon.scenarios import SCENARIOS, ScenarioFolderError, load_folder
from kmon.tui.menu_app import FrameworkPreloader, MenuApp
from kmon.tui.screens.compare import CompareScreen, FinishedRun
from kmon.tui.screens.variant_picker import VariantPicker


class NotLoading(FrameworkPreloader):
    """Keeps TensorFlow out of these UI tests: the menu only shows its status."""

    def start(self) -> None:
        self.seconds = 0.0


def user_and_bundled() -> dict:
    return {**SCENARIOS, **load_folder(DATA / "user_scenarios")}


def text_of(app, selector: str) -> str:
    return str(app.query_one(selector).render())


async def test_lists_every_scenario_and_explains_the_highlighted_one():
    app = MenuApp(user_and_bundled(), preloader=NotLoading())
    async with app.run_test(size=(100, 30)) as pilot:
        options = app.query_one("#scenario-list")
        assert [options.get_option_at_index(i).id for i in range(options.option_count)] == [
            *SCENARIOS,
            "tiny_fit",
        ]
        assert "History's loss differs" in text_of(app, "#scenario-text")
        await pilot.press(*["down"] * len(SCENARIOS))  # past the bundled ones
        info = text_of(app, "#scenario-text")
        assert "A tiny linear fit" in info and "gentle" in info and "steep" in info
        await pilot.pause()
        assert "TensorFlow ready" in text_of(app, "#framework-status")


async def test_filter_narrows_the_list_and_says_when_nothing_matches():
    app = MenuApp(user_and_bundled(), preloader=NotLoading())
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("slash", *"tiny")
        options = app.query_one("#scenario-list")
        assert options.option_count == 1
        assert options.get_option_at_index(0).id == "tiny_fit"
        await pilot.press(*"zzz")
        assert options.option_count == 0
        assert "No scenario matches" in text_of(app, "#scenario-text")


async def test_enter_then_a_variant_returns_the_choice():
    app = MenuApp(user_and_bundled(), preloader=NotLoading())
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press(*["down"] * len(SCENARIOS), "enter")  # tiny_fit, after the bundled
        assert isinstance(app.screen, VariantPicker)
        await pilot.press("down", "enter")
    assert app.return_value == ("tiny_fit", "steep")


async def test_escape_in_the_variant_picker_goes_back_to_the_list():
    app = MenuApp(user_and_bundled(), preloader=NotLoading())
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("enter")
        await pilot.press("escape")
        assert not isinstance(app.screen, VariantPicker)
        await pilot.press("q")
    assert app.return_value is None


async def test_compare_needs_two_runs_then_overlays_them(tmp_path):
    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    shutil.copy(DATA / "two_fits.jsonl", first)
    shutil.copy(DATA / "failed.jsonl", second)
    one_run = [FinishedRun("history_vs_console", "noisy", first, "ok")]
    app = MenuApp(SCENARIOS, runs=one_run, preloader=NotLoading())
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("c")
        assert not isinstance(app.screen, CompareScreen)  # only one run so far
        # The hint names this scenario's own variants.
        # (run_test shows no toasts; the app keeps what it was asked to show.)
        (notice,) = app._notifications
        assert "(e.g. noisy, then steady)" in notice.message
    runs = [*one_run, FinishedRun("history_vs_console", "steady", second, "failed")]
    app = MenuApp(SCENARIOS, runs=runs, preloader=NotLoading())
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("c")
        screen = app.screen
        assert isinstance(screen, CompareScreen)
        assert [run.variant for run in screen.runs] == ["noisy", "steady"]
        # Whole epochs on the x axis (plotext's own ticks fall between them).
        monitor = screen.query_one("#compare-chart").plt._active.monitor
        assert sorted(monitor.xticks[0]) == [1, 2, 3, 4, 5]
        left = str(screen.query_one("#alarms-0").render())
        right = str(screen.query_one("#alarms-1").render())
        assert "5 epochs" in left and "1 epochs" in right
        await pilot.press("escape")
        assert not isinstance(app.screen, CompareScreen)


def test_user_folder_errors_are_one_line(tmp_path):
    with pytest.raises(ScenarioFolderError, match="no such scenario folder"):
        load_folder(tmp_path / "missing")
    (tmp_path / "broken.py").write_text("raise RuntimeError('boom')\n")
    with pytest.raises(ScenarioFolderError, match="RuntimeError: boom"):
        load_folder(tmp_path)
    (tmp_path / "broken.py").write_text("x = 1\n")
    with pytest.raises(ScenarioFolderError, match="no SCENARIO"):
        load_folder(tmp_path)


async def test_the_runs_tab_lists_the_runs_and_enter_returns_one_to_open(tmp_path):
    runs_dir = tmp_path / "kmon-runs"
    runs_dir.mkdir()
    shutil.copy(DATA / "two_fits.jsonl", runs_dir / "recorded.jsonl")
    app = MenuApp(SCENARIOS, preloader=NotLoading(), runs_dir=str(runs_dir))
    async with app.run_test(size=(140, 30)) as pilot:
        await pilot.press("2")
        table = app.query_one("RunsTable")
        for _ in range(100):
            await pilot.pause(0.05)
            if table.row_count:
                break
        assert table.row_count == 1 and table.has_focus
        assert str(table.get_cell(str(runs_dir / "recorded.jsonl"), "run")) == "recorded"
        await pilot.press("enter")
    assert app.return_value == ("replay", [runs_dir / "recorded.jsonl"])


async def test_variant_picker_groups_the_variants_by_kind():
    app = MenuApp(SCENARIOS, preloader=NotLoading())
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.press(*["down"] * 2, "enter")  # lstm_constant_predictions
        assert isinstance(app.screen, VariantPicker)
        options = app.screen.query_one("#variants")
        rows = [options.get_option_at_index(i) for i in range(options.option_count)]
        headings = [str(row.prompt) for row in rows if row.disabled]
        assert headings == [
            "[b]The problem[/b]",
            "[b]The article's examples[/b]",
            "[b]Its remedies[/b]",
            "[b]Other causes it names[/b]",
            "[b]Fixes[/b]",
        ]
        # The cursor starts on the first variant, not on a heading.
        assert options.highlighted == 1 and rows[1].id == "broken"
        assert "(002 example 1)" in str(rows[3].prompt)
        await pilot.press("enter")
    assert app.return_value == ("lstm_constant_predictions", "broken")


async def test_info_pane_lists_the_claims_with_their_verdicts():
    app = MenuApp(SCENARIOS, preloader=NotLoading())
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.press(*["down"] * 2)
        info = text_of(app, "#scenario-text")
        assert "The article's claims, checked by running them" in info
        assert "002_c5209398e32580e6.txt" in info
        assert "ReLU or variations like LeakyReLU" in info and "does not hold" in info
        assert "(variant relu)" in info
