"""Where a workflow's time went: queue wait, binding, quantum execution and classical work."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from parsl_quantum.executors.metrics import TaskRecord


@dataclass(frozen=True)
class TimeBreakdown:
    """Time of a run, from the executor's task records and the workflow's own clock.

    Task times are summed over tasks (task-seconds); with several workers they may exceed the wall time.

    Attributes
    ----------
    wall
        Elapsed seconds of the run.
    tasks
        Quantum tasks that finished.
    queue_wait
        Task-seconds waiting in the executor's queue for a free pilot slot (submit to bind).
    binding
        Task-seconds from binding to the start on a worker (transfer, worker-side queue).
    quantum
        Task-seconds of quantum execution on workers.
    classical
        Seconds of classical work in the workflow (optimiser steps, reconstruction...), as measured by it.
    pilots
        Tasks per pilot.
    """

    wall: float
    tasks: int
    queue_wait: float
    binding: float
    quantum: float
    classical: float
    pilots: dict[str, int]

    @classmethod
    def from_records(
        cls, records: Iterable[TaskRecord], wall: float, classical: float = 0.0
    ) -> TimeBreakdown:
        """Sum the task records of a run."""
        done = [r for r in records if r.start is not None and r.end is not None and r.bind is not None]
        pilots: dict[str, int] = {}
        for r in done:
            pilots[r.pilot or "?"] = pilots.get(r.pilot or "?", 0) + 1
        return cls(
            wall=wall,
            tasks=len(done),
            queue_wait=sum(r.bind - r.submit for r in done),
            binding=sum(max(r.start - r.bind, 0.0) for r in done),
            quantum=sum(r.end - r.start for r in done),
            classical=classical,
            pilots=pilots,
        )

    def __str__(self) -> str:
        by_pilot = ", ".join(f"{name}: {count}" for name, count in sorted(self.pilots.items()))
        tasks = f"{self.tasks} quantum tasks; {by_pilot}" if self.tasks else "no quantum-executor tasks"
        return (
            f"time breakdown ({tasks})\n"
            f"  wall time            {self.wall:9.2f} s\n"
            f"  queue wait           {self.queue_wait:9.2f} task-s\n"
            f"  binding to worker    {self.binding:9.2f} task-s\n"
            f"  quantum execution    {self.quantum:9.2f} task-s\n"
            f"  classical work       {self.classical:9.2f} s"
        )
