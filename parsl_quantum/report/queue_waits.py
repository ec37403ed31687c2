"""Queue waits: how long the user's tasks waited in the executor's queue (submission to binding), per
pilot. Calibration, probe and warm-up tasks are left out: they are submitted one at a time to an idle
pilot and would crowd the distribution near zero."""

from __future__ import annotations

from pathlib import Path

from parsl_quantum.report.figure import new_figure, pilot_colour, save
from parsl_quantum.report.run import Run, pilot_name
from parsl_quantum.report.utilisation import busy_steps
from parsl_quantum.report.wording import plural


def waits_by_pilot(run: Run) -> dict[str, list[tuple[float, float]]]:
    """``(submitted since the run's origin, wait)`` in seconds of every bound user task, per pilot."""
    waits: dict[str, list[tuple[float, float]]] = {}
    for task in run.user_tasks:
        if task.queue_wait is not None and task.pilot is not None:
            waits.setdefault(pilot_name(run, task), []).append((task.submit - run.origin, task.queue_wait))
    return waits


def queue_wait_chart(run: Run, path: Path) -> Path:
    """Draw the distribution of queue waits per pilot and the tasks waiting over time to the PNG ``path``.

    Left, a histogram of the waits of each pilot's user tasks; right, how many of the user tasks later
    bound to each pilot were waiting in the executor's queue at each moment (the queue filling and
    draining).
    """
    import numpy as np

    waits = waits_by_pilot(run)
    figure = new_figure(11, 3.8)
    hist, queue = figure.subplots(1, 2)
    every = [w for pairs in waits.values() for _, w in pairs]
    bins = np.linspace(0.0, max(every, default=1.0) or 1.0, 31)
    for pilot in run.pilots:
        if pilot not in waits:
            continue
        colour = pilot_colour(run.pilots.index(pilot))
        submitted, waited = zip(*waits[pilot], strict=True)
        label = f"{pilot} (mean {np.mean(waited):.3g} s)"
        hist.hist(waited, bins=bins, color=colour, alpha=0.55, label=label, edgecolor=colour)
        times, counts = busy_steps([(t, t + w) for t, w in waits[pilot]])
        queue.step([0.0, *times], [0, *counts], where="post", color=colour, linewidth=1.3, label=pilot)
    hist.set_xlabel("queue wait (s): submission to binding")
    hist.set_ylabel("tasks")
    hist.set_title("Distribution", fontsize=9, loc="left")
    queue.set_xlabel("seconds since the first task was submitted")
    queue.set_ylabel("tasks waiting")
    queue.set_title("Waiting in the queue over the run, by the pilot they went to", fontsize=9, loc="left")
    for ax in (hist, queue):
        ax.grid(color="#dddddd", linewidth=0.6)
        ax.set_axisbelow(True)
        if waits:
            ax.legend(fontsize=8)
    figure.suptitle(f"Queue waits of the user's tasks ({plural(len(every), 'bound task')})")
    return save(figure, path)
