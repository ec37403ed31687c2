"""Queue waits: how long tasks waited in the executor's queue (submission to binding), per pilot."""

from __future__ import annotations

from pathlib import Path

from parsl_quantum.report.figure import new_figure, pilot_colour, save
from parsl_quantum.report.run import Run, pilot_name


def waits_by_pilot(run: Run) -> dict[str, list[tuple[float, float]]]:
    """``(submitted since the run's origin, wait)`` in seconds of every bound task, per pilot."""
    waits: dict[str, list[tuple[float, float]]] = {}
    for task in run.tasks:
        if task.queue_wait is not None and task.pilot is not None:
            waits.setdefault(pilot_name(run, task), []).append((task.submit - run.origin, task.queue_wait))
    return waits


def queue_wait_chart(run: Run, path: Path) -> Path:
    """Draw the distribution of queue waits per pilot and the waits over time to the PNG ``path``."""
    import numpy as np

    waits = waits_by_pilot(run)
    figure = new_figure(11, 3.8)
    hist, scatter = figure.subplots(1, 2)
    every = [w for pairs in waits.values() for _, w in pairs]
    bins = np.linspace(0.0, max(every, default=1.0) or 1.0, 31)
    for pilot in run.pilots:
        if pilot not in waits:
            continue
        colour = pilot_colour(run.pilots.index(pilot))
        submitted, waited = zip(*waits[pilot], strict=True)
        label = f"{pilot} (median {np.median(waited):.3g} s)"
        hist.hist(waited, bins=bins, color=colour, alpha=0.55, label=label, edgecolor=colour)
        scatter.scatter(submitted, waited, s=14, color=colour, alpha=0.8, label=pilot)
    hist.set_xlabel("queue wait (s): submission to binding")
    hist.set_ylabel("tasks")
    hist.set_title("Distribution", fontsize=9, loc="left")
    scatter.set_xlabel("submitted (s since the first task)")
    scatter.set_ylabel("queue wait (s)")
    scatter.set_title("Over the run", fontsize=9, loc="left")
    for ax in (hist, scatter):
        ax.grid(color="#dddddd", linewidth=0.6)
        ax.set_axisbelow(True)
        if waits:
            ax.legend(fontsize=8)
    figure.suptitle(f"Queue waits ({len(every)} bound tasks)")
    return save(figure, path)
