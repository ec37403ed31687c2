"""Late binding: one dispatch pass chooses pilots for waiting tasks, only where a slot is free now.

A task is bound when some pilot it may use has a free slot (a connected worker plus a small prefetch);
the placement policy chooses among those pilots. Nothing is bound to a pilot that is not active: one that
is starting, degraded, recovering or draining takes no new work.
"""

from __future__ import annotations

from collections.abc import Iterable

from parsl_quantum.executors.policies import PilotLoad, PlacementPolicy
from parsl_quantum.executors.running_pilot import Pilot
from parsl_quantum.executors.task import QuantumTask
from parsl_quantum.executors.task_queue import TaskQueue


def pilot_loads(pilots: Iterable[Pilot]) -> dict[str, PilotLoad]:
    """The load of every pilot that may take work now (a pilot waiting for a batch counts as full)."""
    return {
        p.name: PilotLoad(
            p.name,
            p.capacity,
            p.limit if p.wants_work else len(p.in_flight),
            len(p.in_flight),
            p.fidelity if p.fidelity is not None else 1.0,
        )
        for p in pilots
        if p.accepting
    }


def choose_bindings(
    queue: TaskQueue, pilots: Iterable[Pilot], policy: PlacementPolicy
) -> list[tuple[QuantumTask, str]]:
    """One dispatch pass: ``(task, pilot name)`` for each waiting task to bind now, in priority order.

    The queue is not changed; the pass looks ahead a bounded number of tasks (twice the slots of the pilots
    that take work, plus 8), so a long run of tasks that only busy pilots can serve costs little to skip.
    """
    loads = pilot_loads(pilots)
    free = [name for name, load in loads.items() if load.free > 0]
    if not free:
        return []
    lookahead = 2 * sum(load.limit for load in loads.values()) + 8
    chosen: list[tuple[QuantumTask, str]] = []
    for task in queue.waiting_for(free):
        candidates = [loads[n] for n in task.eligible if n in loads]
        preferred = [load for load in candidates if load.name not in task.avoid] or candidates
        pick = policy.choose(task.info, preferred)
        if pick is not None:
            pick.held += 1
            chosen.append((task, pick.name))
        lookahead -= 1
        if lookahead <= 0 or not any(load.free > 0 for load in loads.values()):
            break
    return chosen
