"""The headline of a run: the user's tasks, their wall time and their mean waits, overhead set apart.

One function computes it from the executor's task records, so that the demo's summary in the terminal and
the report's page say the same numbers about the same tasks. Every figure is either a wall time or a
per-task mean or median, so that no time summed over tasks stands beside the wall time as if alike.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from parsl_quantum.executors.metrics import TaskRecord
from parsl_quantum.report.roles import OVERHEAD, USER, task_role
from parsl_quantum.report.wording import plural, seconds


@dataclass(frozen=True)
class RunSummary:
    """What the user's tasks of a run did, and what ran besides them.

    Attributes
    ----------
    tasks
        The user's tasks (every outcome); calibration, probe and warm-up tasks are not among them.
    ran
        Those of them that a worker started and ended.
    unsuccessful
        Those of them whose outcome is not ``"success"``.
    wall_s
        Seconds from the first user task's submission to the last one's completion (its future's), or
        ``None`` without user tasks.
    mean_queue_wait_s
        Mean seconds a user task waited in the executor's queue, from submission until late binding chose
        its pilot.
    mean_binding_s
        Mean seconds from binding until the worker started the task (transfer, the worker's own queue).
    median_run_s
        Median seconds a user task ran on its worker.
    overhead
        Tasks that are not the user's, by role (``"calibration"``, ``"probe"``, ``"warm-up"``), in
        :data:`~parsl_quantum.report.roles.OVERHEAD` order; roles without tasks are left out.
    overhead_run_s
        Seconds those tasks ran on workers, summed over them.
    """

    tasks: int
    ran: int
    unsuccessful: int
    wall_s: float | None
    mean_queue_wait_s: float | None
    mean_binding_s: float | None
    median_run_s: float | None
    overhead: dict[str, int] = field(default_factory=dict)
    overhead_run_s: float = 0.0

    def rows(self) -> list[tuple[str, str, str]]:
        """The headline as ``(figure, value, what it measures)`` rows, for the page and the terminal."""
        outcome = "all succeeded" if not self.unsuccessful else f"{self.unsuccessful} did not succeed"
        ran = f"{self.ran} ran on workers; {outcome}" if self.tasks else "none was submitted"
        rows = [
            ("user tasks", str(self.tasks), ran),
            (
                "wall time",
                f"{seconds(self.wall_s)} s",
                "from the first user task's submission to the last one's completion",
            ),
            (
                "queue wait",
                f"{seconds(self.mean_queue_wait_s)} s",
                "mean per user task: from submission until late binding chose its pilot",
            ),
            (
                "binding to worker",
                f"{seconds(self.mean_binding_s)} s",
                "mean per user task: from binding until its worker started it",
            ),
            ("run on worker", f"{seconds(self.median_run_s)} s", "median per user task"),
        ]
        if self.overhead:
            rows.append(
                (
                    "not counted above",
                    overhead_count(self.overhead),
                    f"{seconds(self.overhead_run_s)} s of run time on workers, summed over those tasks",
                )
            )
        return rows

    def __str__(self) -> str:
        rows = self.rows()
        width = max(len(value) for _, value, _ in rows)
        lines = ["time breakdown of the user's tasks (the run report's headline):"]
        lines += [f"  {figure:18} {value:>{width}}  {meaning}" for figure, value, meaning in rows]
        return "\n".join(lines)


def overhead_count(roles: Mapping[str, int]) -> str:
    """``8 calibration tasks, 1 probe task``: overhead tasks by role (roles without tasks left out)."""
    return ", ".join(plural(roles[r], f"{r} task") for r in OVERHEAD if roles.get(r))


def headcount(records: Iterable[TaskRecord]) -> str:
    """``36 user tasks; 8 calibration tasks, 1 probe task``: the tasks of a run by role."""
    roles = Counter(task_role(r.name) for r in records)
    overhead = overhead_count(roles)
    return plural(roles[USER], "user task") + (f"; {overhead}" if overhead else "")


def summarise(records: Iterable[TaskRecord]) -> RunSummary:
    """The headline of a run from its executors' task records (finished ones; any order)."""
    records = list(records)
    mine = [r for r in records if task_role(r.name) == USER]
    overhead = Counter(task_role(r.name) for r in records if task_role(r.name) != USER)
    ran = [r for r in mine if r.run_time is not None]
    finished = [t for t in (r.done if r.done is not None else r.end for r in mine) if t is not None]
    waits = [r.queue_wait for r in mine if r.queue_wait is not None]
    binding = [max(r.start - r.bind, 0.0) for r in ran if r.bind is not None]
    return RunSummary(
        tasks=len(mine),
        ran=len(ran),
        unsuccessful=sum(r.outcome != "success" for r in mine),
        wall_s=max(finished) - min(r.submit for r in mine) if finished else None,
        mean_queue_wait_s=statistics.fmean(waits) if waits else None,
        mean_binding_s=statistics.fmean(binding) if binding else None,
        median_run_s=statistics.median(r.run_time for r in ran) if ran else None,
        overhead={role: overhead[role] for role in OVERHEAD if overhead[role]},
        overhead_run_s=sum(
            r.run_time for r in records if task_role(r.name) != USER and r.run_time is not None
        ),
    )
