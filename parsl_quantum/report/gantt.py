"""The Gantt chart: every task on the lane of the pilot and worker that ran it, coloured by outcome, and
the overhead (calibration, probes, warm-up) in colours of its own."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from parsl_quantum.report.figure import OUTCOME_COLOURS, ROLE_COLOURS, new_figure, save
from parsl_quantum.report.roles import OVERHEAD, USER
from parsl_quantum.report.run import OUTCOMES, Run, TaskRow, pilot_name
from parsl_quantum.report.summary import headcount

NOT_RUN = "not run"
"""Lane of a pilot's tasks that no worker started (unschedulable, cancelled, failed before starting)."""


def lanes(run: Run) -> tuple[dict[int, int], list[tuple[str, str]]]:
    """The chart's lanes: the lane index of each task (by ``id``) and each lane's ``(pilot, worker)``.

    Lanes are grouped by pilot, workers sorted. Where the records name only a worker's host (files that
    predate ``worker``), a host's overlapping tasks are spread over lanes ``host #1``, ``host #2``... so
    that tasks running at once stay visible; a real worker (``host:pid``) runs one task at a time.
    """
    groups: dict[tuple[str, str], list[TaskRow]] = {}
    for task in run.tasks:
        groups.setdefault(lane_of(run, task), []).append(task)
    order = sorted(groups, key=lambda lane: (lane[0], lane[1] == NOT_RUN, lane[1]))
    names: list[tuple[str, str]] = []
    placed: dict[int, int] = {}
    for pilot, worker in order:
        ends: list[float] = []
        for task in sorted(groups[pilot, worker], key=lambda t: interval(run, t)[0]):
            begin, width = interval(run, task)
            free = next((i for i, end in enumerate(ends) if end <= begin or worker == NOT_RUN), None)
            if free is None:
                ends.append(0.0)
                free = len(ends) - 1
            ends[free] = max(ends[free], begin + width)
            placed[id(task)] = len(names) + free
        names += [(pilot, worker if len(ends) == 1 else f"{worker} #{i + 1}") for i in range(len(ends))]
    return placed, names


def lane_of(run: Run, task: TaskRow) -> tuple[str, str]:
    """The lane of ``task``: its pilot and its worker (or :data:`NOT_RUN`)."""
    if not task.ran:
        return pilot_name(run, task), NOT_RUN
    return pilot_name(run, task), task.worker or "worker ?"


def interval(run: Run, task: TaskRow) -> tuple[float, float]:
    """Seconds since the run's origin that ``task`` occupies on its lane: start to end where it ran,
    else submission to completion."""
    if task.ran:
        begin, end = task.start, task.end
    else:
        begin, end = task.submit, task.done if task.done is not None else task.submit
    return begin - run.origin, max(end - begin, 0.0)


def task_colour(task: TaskRow) -> str:
    """A task's colour: its outcome's, or its role's for an overhead task that succeeded."""
    if task.role != USER and task.outcome == "success":
        return ROLE_COLOURS[task.role]
    return OUTCOME_COLOURS.get(task.outcome, OUTCOME_COLOURS["pending"])


def gantt_chart(run: Run, path: Path) -> Path:
    """Draw the Gantt chart of ``run`` to the PNG ``path``.

    Each lane is one worker of one pilot (``host:pid`` where the executor recorded it, else the host);
    each bar one task from its start to its end on the worker, coloured by outcome; calibration, probe
    and warm-up tasks that succeeded are coloured by role (:data:`ROLE_COLOURS`). Tasks that no worker
    started are drawn hatched, from submission to completion, on their pilot's "not run" lane.
    """
    from matplotlib.patches import Patch

    placed, rows = lanes(run)
    span = max((sum(interval(run, t)) for t in run.tasks), default=1.0) or 1.0
    figure = new_figure(11, 1.6 + 0.32 * len(rows))
    ax = figure.add_subplot()
    bars: dict[tuple[int, str, bool], list[tuple[float, float]]] = {}
    for task in run.tasks:
        begin, width = interval(run, task)
        bars.setdefault((placed[id(task)], task_colour(task), task.ran), []).append(
            (begin, max(width, span / 300))
        )
    for (row, colour, ran), spans in bars.items():
        ax.broken_barh(
            spans,
            (row - 0.38, 0.76),
            facecolors=colour,
            edgecolors="white" if ran else colour,
            linewidth=0.3,
            hatch=None if ran else "///",
            alpha=1.0 if ran else 0.45,
        )
    previous = None
    for i, (pilot, _) in enumerate(rows):
        if pilot != previous and i:
            ax.axhline(i - 0.5, color="#444444", linewidth=0.8)
        previous = pilot
    ax.set_yticks(range(len(rows)), [f"{pilot}  {worker}" for pilot, worker in rows], fontsize=8)
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.set_xlim(0, span * 1.01)
    ax.set_xlabel("seconds since the first task was submitted")
    ax.set_title(f"Tasks over pilots and workers ({headcount(run.tasks)})")
    ax.grid(axis="x", color="#dddddd", linewidth=0.6)
    ax.set_axisbelow(True)
    counts = Counter(t.outcome for t in run.user_tasks)
    shown = [*OUTCOMES, *sorted(set(counts) - set(OUTCOMES))]
    handles = [
        Patch(color=OUTCOME_COLOURS.get(o, OUTCOME_COLOURS["pending"]), label=f"{o} ({counts[o]})")
        for o in shown
    ]
    roles = Counter(t.role for t in run.overhead_tasks)
    if roles:  # one legend (constrained layout makes room for one), the overhead under a heading
        handles.append(Patch(color="none", label="overhead tasks:"))
        handles += [Patch(color=ROLE_COLOURS[r], label=f"{r} ({roles[r]})") for r in OVERHEAD if roles[r]]
    ax.legend(
        handles=handles,
        loc="upper left",
        bbox_to_anchor=(1.005, 1.0),
        fontsize=8,
        title="user tasks:",
        title_fontsize=8,
    )
    return save(figure, path)
