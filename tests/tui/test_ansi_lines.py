"""The epoch chart reads plotext's colour codes as rich's ``Text.from_ansi`` does:
the same text and spans on every line, each style worked out once."""

from __future__ import annotations

import pytest
from model_events import fit, models_run
from rich.text import Text
from tui_helpers import replayed

from kmon.tui.widgets.ansi_lines import AnsiLines
from kmon.tui.widgets.epoch_chart import EpochChart


def _as_rich_reads(ansi: str) -> list[tuple[str, list]]:
    return [(line.plain, line.spans) for line in Text.from_ansi(ansi).split("\n", allow_blank=True)]


def _read(reader: AnsiLines, ansi: str) -> list[tuple[str, list]]:
    return [(line.plain, line.spans) for line in reader.lines(ansi)]


@pytest.mark.parametrize(
    "ansi",
    [
        "",
        "\n",
        "plain",
        "a\n\nb\n",
        "\x1b[1mbold\x1b[0m x\n\x1b[38;5;196mred\x1b[48;2;1;2;3m on\x1b[0m",
        "\x1b[31mno reset\nnext line",
        "\x1b[1;31;48;5;20mmix\x1b[22mless\x1b[m plain",
        "\x1b[2Jnot a colour",  # other escapes: rich's decoder reads them
        "cr\r\nx",
        "u\u2028v",
    ],
)
def test_lines_are_what_rich_reads(ansi: str) -> None:
    reader = AnsiLines()
    assert _read(reader, ansi) == _as_rich_reads(ansi)
    assert _read(reader, ansi) == _as_rich_reads(ansi)  # the styles remembered


async def test_a_charts_lines_are_what_rich_reads() -> None:
    stream = models_run()
    fit(stream, "mlp", model_index=0, epochs=4)
    stream.run_end()
    async with replayed(stream, size=(120, 40)) as (app, _pilot):
        chart = app.query_one(EpochChart)
        plot = chart.plt
        plot.plotsize(chart.size.width, chart.size.height)
        plot._set_size(chart.size.width, chart.size.height)
        plot.theme(chart._theme_name(app.theme))
        canvas = plot.build()
        assert canvas.count("\x1b[") > 20  # colours, runs of them
        assert _read(AnsiLines(), canvas) == _as_rich_reads(canvas)
        lines = chart.plot_lines()
        assert [line.plain for line in lines] == [plain for plain, _ in _as_rich_reads(canvas)]
