r"""Makespan: tasks placed on pilot slots as the executor's ``earliest_finish`` policy binds them.

Each task, in order, goes to the pilot slot where it would finish first. The :math:`i`-th task (from 0)
leaves the submitting host :math:`(i + 1)\,d` after the plan is submitted (``dispatch``), starts once it
has left and a slot is free, holds the slot for the pilot's per-task ``task_overhead`` :math:`o` and its
work, and its result is back ``latency`` :math:`\ell` later:
:math:`f_i = \max(\text{slot free}, (i + 1) d) + o + t_i`, makespan :math:`\max_i f_i + \ell`.
A pilot's slots are free when the tasks ahead of the plan are done (:func:`backlog`): those running
half done on average, those waiting each a full predicted task.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from parsl_quantum.q_dreamer.model.models import PilotModel


def contention(pilots: Sequence[PilotModel], tasks: int) -> dict[str, float]:
    """Slowdown of each pilot's tasks when its host has fewer cores than busy workers.

    Calibration times tasks one at a time; when ``tasks`` run at once on pilots sharing a host of ``c``
    cores with ``w`` workers between them, each runs about ``min(w, tasks) / c`` times slower (if above 1),
    and no faster than calibration measured a pilot's workers all busy at once (shared caches and memory
    bandwidth slow them even with a core each).
    """
    workers: dict[str, int] = {}
    for p in pilots:
        if p.host and p.host_cores:
            workers[p.host] = workers.get(p.host, 0) + max(p.workers, 1)
    factors = {}
    for p in pilots:
        if p.host and p.host_cores:
            factors[p.name] = max(1.0, min(workers[p.host], tasks) / p.host_cores)
        else:
            factors[p.name] = 1.0
        if tasks > 1 and p.workers > 1:
            # its workers busy at once: each as slow as calibration measured them together
            factors[p.name] = max(factors[p.name], p.parallel_slowdown)
    return factors


@dataclass(frozen=True)
class Schedule:
    """Tasks placed on pilot slots: when everything is done, and where each task went."""

    makespan: float
    placement: list[str] = field(default_factory=list)


def backlog(workers: int, running: int, waiting: float, task_seconds: float) -> list[float]:
    """Seconds until each of a pilot's ``workers`` slots is free for new work, soonest first.

    ``running`` tasks hold as many slots, each half done on average (``task_seconds / 2`` left); then
    ``waiting`` tasks ahead of the new ones (a fractional share of the executor's queue may be
    expected) each go to the slot free first and hold it ``task_seconds`` (a fraction of a task, that
    fraction of it)."""
    slots = max(workers, 1)
    running = min(max(running, 0), slots)
    free = [0.5 * task_seconds if slot < running else 0.0 for slot in range(slots)]
    heapq.heapify(free)
    whole = int(max(waiting, 0.0))
    for _ in range(whole):
        heapq.heapreplace(free, free[0] + task_seconds)
    if waiting > whole:
        heapq.heapreplace(free, free[0] + (waiting - whole) * task_seconds)
    return sorted(free)


def schedule(
    tasks: Sequence[dict[str, float]],
    pilots: Sequence[PilotModel],
    ahead: dict[str, list[float]] | None = None,
) -> Schedule:
    """Place tasks, in order, each on the slot where it finishes first (the ``earliest_finish`` policy).

    Parameters
    ----------
    tasks
        Per task, its seconds on each pilot that can run it (``{pilot name: seconds}``), task overhead
        excluded.
    pilots
        The pilots and their slots.
    ahead
        Per pilot, when each of its slots is free of the work submitted before (see :func:`backlog`;
        default: every slot free now).
    """
    ahead = ahead or {}
    free: dict[str, list[float]] = {}
    for p in pilots:
        slots = sorted(ahead.get(p.name, []))[: max(p.workers, 1)]
        free[p.name] = slots + [0.0] * (max(p.workers, 1) - len(slots))
        heapq.heapify(free[p.name])
    models = {p.name: p for p in pilots}
    makespan = 0.0
    placement = []
    for number, costs in enumerate(tasks, start=1):
        best_name, best_end, best_done = None, math.inf, math.inf
        for name, seconds in costs.items():
            if name not in free:
                continue
            model = models[name]
            end = max(free[name][0], number * model.dispatch) + model.task_overhead + seconds
            if end + model.latency < best_done:  # its result back first
                best_name, best_end, best_done = name, end, end + model.latency
        if best_name is None:
            raise ValueError("a task that no pilot can run")
        heapq.heapreplace(free[best_name], best_end)
        placement.append(best_name)
        makespan = max(makespan, best_done)
    return Schedule(makespan, placement)
