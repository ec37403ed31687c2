"""Utilisation per pilot over time: how many of its workers were running a task, and how many of those
tasks were overhead (calibration, probes, warm-up) rather than the user's."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from parsl_quantum.report.figure import OVERHEAD_COLOUR, new_figure, pilot_colour, save
from parsl_quantum.report.roles import USER
from parsl_quantum.report.run import Run, pilot_name
from parsl_quantum.report.wording import plural


def busy_steps(intervals: Sequence[tuple[float, float]]) -> tuple[list[float], list[int]]:
    """Running tasks as a step function of time: ``times[i]`` starts a step of ``counts[i]`` tasks.

    Parameters
    ----------
    intervals
        ``(start, end)`` of each task.
    """
    events: dict[float, int] = {}
    for start, end in intervals:
        events[start] = events.get(start, 0) + 1
        events[end] = events.get(end, 0) - 1
    times, counts, busy = [], [], 0
    for time in sorted(events):
        busy += events[time]
        times.append(time)
        counts.append(busy)
    return times, counts


@dataclass(frozen=True)
class PilotUse:
    """How a pilot was used over the run.

    Attributes
    ----------
    pilot
        Its name.
    workers
        Workers seen running its tasks (at least the most tasks seen running at once).
    busy_s
        Seconds its workers ran tasks, summed over workers (every task, overhead included).
    overhead_s
        Of those, the seconds spent on calibration, probe and warm-up tasks.
    span_s
        Seconds from the run's first submission to the end of its last task.
    times, counts
        Running tasks over time (:func:`busy_steps`), in seconds since the run's first submission.
    overhead_times, overhead_counts
        Running overhead tasks over time, likewise.
    """

    pilot: str
    workers: int
    busy_s: float
    span_s: float
    times: list[float]
    counts: list[int]
    overhead_s: float = 0.0
    overhead_times: list[float] = field(default_factory=list)
    overhead_counts: list[int] = field(default_factory=list)

    def share(self, seconds: float) -> float:
        """``seconds`` of work as a share of its workers' time over the run's span."""
        return seconds / (self.workers * self.span_s) if self.workers and self.span_s > 0 else 0.0

    @property
    def utilisation(self) -> float:
        """Busy share of its workers' time over the run's span (overhead included)."""
        return self.share(self.busy_s)


def pilot_use(run: Run) -> list[PilotUse]:
    """Use of each pilot that ran tasks, in :attr:`Run.pilots` order."""
    ran = [t for t in run.tasks if t.ran]
    span = max((t.end for t in ran), default=run.origin) - run.origin
    uses = []
    for pilot in run.pilots:
        mine = [t for t in ran if pilot_name(run, t) == pilot]
        if not mine:
            continue
        times, counts = busy_steps([(t.start - run.origin, t.end - run.origin) for t in mine])
        overhead = [t for t in mine if t.role != USER]
        overhead_times, overhead_counts = busy_steps(
            [(t.start - run.origin, t.end - run.origin) for t in overhead]
        )
        uses.append(
            PilotUse(
                pilot,
                workers=max(len({t.worker for t in mine}), max(counts, default=0)),
                busy_s=sum(t.end - t.start for t in mine),
                span_s=span,
                times=times,
                counts=counts,
                overhead_s=sum(t.end - t.start for t in overhead),
                overhead_times=overhead_times,
                overhead_counts=overhead_counts,
            )
        )
    return uses


def utilisation_chart(run: Run, path: Path) -> Path:
    """Draw each pilot's running tasks over time against its workers to the PNG ``path``; the overhead
    among them (calibration, probes, warm-up) hatched in grey."""
    uses = pilot_use(run)
    figure = new_figure(11, 0.6 + 1.7 * max(len(uses), 1))
    axes = figure.subplots(max(len(uses), 1), 1, sharex=True, squeeze=False)[:, 0]
    for ax, use in zip(axes, uses, strict=False):
        times = [0.0, *use.times, use.span_s]
        counts = [0, *use.counts, 0]
        colour = pilot_colour(run.pilots.index(use.pilot))
        ax.fill_between(times, counts, step="post", color=colour, alpha=0.35, linewidth=0)
        ax.step(times, counts, where="post", color=colour, linewidth=1.2)
        if use.overhead_times:
            ax.fill_between(
                [0.0, *use.overhead_times, use.span_s],
                [0, *use.overhead_counts, 0],
                step="post",
                facecolor="none",
                edgecolor=OVERHEAD_COLOUR,
                hatch="////",
                linewidth=0,
            )
        ax.axhline(use.workers, color="#444444", linestyle="--", linewidth=0.9)
        ax.set_ylim(0, use.workers * 1.15 + 0.1)
        ax.set_ylabel("running", fontsize=8)
        overhead = (
            f" ({use.share(use.overhead_s):.0%} on calibration, probes and warm-up, hatched)"
            if use.overhead_times
            else ""
        )
        ax.set_title(
            f"pilot {use.pilot}: {plural(use.workers, 'worker')}, {use.utilisation:.0%} busy over the run"
            + overhead,
            fontsize=9,
            loc="left",
        )
        ax.grid(color="#dddddd", linewidth=0.6)
        ax.set_axisbelow(True)
        ax.set_xlim(0, use.span_s * 1.01 or 1.0)
    axes[-1].set_xlabel("seconds since the first task was submitted (dashed: workers)")
    figure.suptitle("Utilisation per pilot")
    return save(figure, path)
