"""The System tab: the training process's and the machine's CPU, memory and GPUs,
each quantity a bounded sparkline over the whole run (see
:mod:`kmon.engine.view.system_view`), with the latest sample in words above."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from kmon.engine.format import printable
from kmon.engine.view.state import RunState
from kmon.engine.view.system_text import (
    captions,
    gpu_line,
    series_stats,
    summary,
    tf_memory_line,
    unit_of,
)

from .series_panel import SeriesPanel

NO_SAMPLES = (
    "No system samples in this run: `kmon train` samples CPU, memory and GPUs every "
    "second (--system-interval SECONDS; 0 turns it off)."
)


class SystemPane(VerticalScroll):
    """Redrawn from a :class:`RunState` while the tab is shown; a panel per series
    is made when its quantity first comes."""

    DEFAULT_CSS = """
    SystemPane {
        height: 1fr;
    }
    SystemPane > .system-text {
        padding: 0 1;
        width: 1fr;
    }
    SystemPane > #system-note {
        color: $text-muted;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._panels: dict[str, SeriesPanel] = {}
        self._texts: dict[str, str] = {}
        self._samples = -1

    def compose(self) -> ComposeResult:
        yield Static(NO_SAMPLES, id="system-summary", classes="system-text", markup=False)
        yield Static("", id="system-note", classes="system-text", markup=False)

    def show(self, state: RunState) -> None:
        view = state.system
        if view.samples == self._samples:
            return
        self._samples = view.samples
        sample = view.latest
        if sample is None:
            self._text("#system-summary", NO_SAMPLES)
            return
        self._text("#system-summary", summary(sample, view.samples))
        lines = [f"{printable(view.no_gpu)}."] if view.no_gpu else [gpu_line(gpu) for gpu in sample.gpus]
        tf_line = tf_memory_line(sample)
        if tf_line:
            lines.append(tf_line)
        self._text("#system-note", "\n".join(lines))
        for key, caption in captions(view.series):
            series = view.series[key]
            panel = self._panels.get(key)
            if panel is None:
                panel = self._panels[key] = SeriesPanel(caption)
                self.mount(panel)
            panel.show(series.highs(), series_stats(series, unit_of(key)))

    def _text(self, selector: str, text: str) -> None:
        if self._texts.get(selector) != text:
            self._texts[selector] = text
            self.query_one(selector, Static).update(text)
