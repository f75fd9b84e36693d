"""The compare screen's chart: one metric of several runs overlaid, each run in its
own colour, at epoch level or per batch, on the x axis and y scale chosen."""

from __future__ import annotations

from textual_plotext import PlotextPlot

from kmon.engine.view.compare import EPOCH, SINCE_START, STEP, WALL, Comparison

from .epoch_chart import epoch_ticks


class CompareChart(PlotextPlot):
    """Draws :meth:`show`'s choice; says in :attr:`caption` what it left out."""

    caption: str = ""

    def show(
        self, comparison: Comparison, key: str, *, axis: str, log_y: bool, batches: bool
    ) -> None:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        notes: list[str] = []
        every_x: set[float] = set()
        drawn = 0
        for run in comparison.runs:
            if batches:
                found = run.batch_points(key, axis)
                if found is None and run.track is None:
                    why = run.batch_problem or "loading per-batch…"
                    notes.append(f"{run.label}: {why}")
                    continue
                if found is None:
                    timeless = not run.timed and axis not in (EPOCH, STEP)
                    notes.append(f"{run.label}: " + ("no times" if timeless else f"no batches of {key}"))
                    continue
                points, what = found
                notes.append(f"{run.label}: {what}")
            else:
                points = run.epoch_points(key, axis)
                if not points:
                    why = "no times" if key in run.epoch_keys else f"no {key}"
                    notes.append(f"{run.label}: {why}")
                    continue
            if log_y:
                kept = [(x, y) for x, y in points if y > 0]
                if len(kept) < len(points):
                    notes.append(f"{run.label}: {len(points) - len(kept)} values <= 0 left out")
                points = kept
            if not points:
                continue
            xs, ys = zip(*points)
            every_x.update(xs)
            plt.plot(xs, ys, color=run.colour, marker="braille", label=run.label)
            drawn += 1
        if batches:
            level = "per batch, x: " + (axis if axis in (WALL, SINCE_START) else "batch")
        else:
            level = f"per epoch, x: {axis}"
        plt.title(f"{key} · {level}")
        if log_y and drawn:
            plt.yscale("log")  # plotext fails on a log scale with nothing drawn
        if not batches and axis == EPOCH and every_x:
            plt.xticks(epoch_ticks(sorted(int(x) for x in every_x)))
        self.caption = " · ".join(notes)
        self.drawn = drawn
        self.refresh()
