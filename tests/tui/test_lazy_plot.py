"""The epoch chart imports plotext only after the monitor's first frame (issue #22:
`kmon replay`'s first frame), and draws the same chart once it has."""

from __future__ import annotations

import subprocess
import sys

from model_events import fit, models_run
from tui_helpers import replayed

from kmon.tui.widgets.epoch_chart import EpochChart


def test_the_monitor_imports_no_plotext_before_its_first_frame() -> None:
    code = (
        "import sys; import kmon.tui.app, kmon.engine.log.sources, kmon.cli; "
        "print(sorted(m for m in sys.modules if 'plotext' in m))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


async def test_the_chart_is_drawn_once_shown() -> None:
    stream = models_run()
    fit(stream, "mlp", model_index=0, epochs=3)
    stream.run_end()
    async with replayed(stream, size=(100, 34)) as (app, _pilot):
        chart = app.query_one(EpochChart)
        assert chart.loaded
        monitor = chart.plt._active.monitor
        assert "History loss" in monitor.label
        text = "\n".join(
            "".join(segment.text for segment in chart.render_line(y))
            for y in range(chart.size.height)
        )
        assert "loss per epoch" in text and "└" in text
