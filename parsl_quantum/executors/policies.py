"""Placement policies: which eligible pilot a waiting task is bound to.

A policy sees, for one task, the eligible pilots that are up (:class:`PilotLoad`: slots, tasks held,
fidelity) and returns the pilot to bind the task to now, or ``None`` to leave it waiting. Only pilots
with a free slot may be returned; ``earliest_finish`` may prefer to wait for a busy pilot that will
still finish the task first.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

from parsl_quantum.executors.durations import RuntimeEstimator, SignatureInfo


@dataclass
class PilotLoad:
    """A pilot's load during one dispatch pass.

    Attributes
    ----------
    name
        Pilot name.
    capacity
        Workers connected (tasks it runs at once).
    limit
        Tasks it may hold: capacity plus prefetch.
    held
        Tasks bound to it (in flight), including those bound earlier in this pass.
    fidelity
        Its device's fidelity.
    reserved
        Tasks that chose to wait for it during this pass (``earliest_finish``).
    """

    name: str
    capacity: int
    limit: int
    held: int
    fidelity: float
    reserved: int = 0

    @property
    def free(self) -> int:
        """Tasks it may still be handed now."""
        return self.limit - self.held

    @property
    def utilisation(self) -> float:
        """Tasks held per worker."""
        return (self.held + self.reserved) / max(self.capacity, 1)


class PlacementPolicy(ABC):
    """Chooses a pilot for a task among eligible, running pilots."""

    name: ClassVar[str]

    @abstractmethod
    def choose(self, info: SignatureInfo, loads: list[PilotLoad]) -> PilotLoad | None:
        """The pilot to bind the task to now, or ``None`` to keep it waiting."""


def _least_loaded(loads: list[PilotLoad]) -> PilotLoad | None:
    free = [p for p in loads if p.free > 0]
    return min(free, key=lambda p: (p.utilisation, p.name)) if free else None


class RoundRobin(PlacementPolicy):
    """Each task to the next pilot (in name order) after the last one used that has a free slot."""

    name = "round_robin"

    def __init__(self) -> None:
        self._last: str | None = None

    def choose(self, info: SignatureInfo, loads: list[PilotLoad]) -> PilotLoad | None:
        free = sorted((p for p in loads if p.free > 0), key=lambda p: p.name)
        if not free:
            return None
        after = [p for p in free if self._last is None or p.name > self._last]
        chosen = after[0] if after else free[0]
        self._last = chosen.name
        return chosen


class LeastLoaded(PlacementPolicy):
    """The free pilot with the fewest tasks per worker."""

    name = "least_loaded"

    def choose(self, info: SignatureInfo, loads: list[PilotLoad]) -> PilotLoad | None:
        return _least_loaded(loads)


class BestFidelity(PlacementPolicy):
    """The free pilot with the highest device fidelity (ties: least loaded)."""

    name = "best_fidelity"

    def choose(self, info: SignatureInfo, loads: list[PilotLoad]) -> PilotLoad | None:
        free = [p for p in loads if p.free > 0]
        if not free:
            return None
        best = max(p.fidelity for p in free)
        return _least_loaded([p for p in free if p.fidelity >= best - 1e-12])


class EarliestFinish(PlacementPolicy):
    """The pilot expected to finish the task first: its queue ahead of the task plus the task's runtime.

    Runtimes come from a :class:`RuntimeEstimator` (observed per task signature and pilot, or a prior).
    A task whose best pilot is busy waits for it rather than going to a slower free pilot.
    """

    name = "earliest_finish"

    def __init__(self, estimator: RuntimeEstimator) -> None:
        self.estimator = estimator

    def finish_time(self, info: SignatureInfo, load: PilotLoad) -> float:
        """Expected seconds until the task would finish on ``load``'s pilot."""
        runtime = self.estimator.predict(info, load.name) or 0.0
        ahead = load.held + load.reserved - load.capacity + 1
        if ahead <= 0:
            return runtime
        per_task = self.estimator.pilot_mean(load.name) or runtime
        return ahead * per_task / max(load.capacity, 1) + runtime

    def choose(self, info: SignatureInfo, loads: list[PilotLoad]) -> PilotLoad | None:
        if not loads:
            return None
        best = min(loads, key=lambda p: (self.finish_time(info, p), -p.free, p.utilisation, p.name))
        if best.free > 0:
            return best
        best.reserved += 1
        return None


POLICIES = ("round_robin", "least_loaded", "best_fidelity", "earliest_finish")


def make_policy(name: str, estimator: RuntimeEstimator) -> PlacementPolicy:
    """The policy called ``name``."""
    if name == "round_robin":
        return RoundRobin()
    if name == "least_loaded":
        return LeastLoaded()
    if name == "best_fidelity":
        return BestFidelity()
    if name == "earliest_finish":
        return EarliestFinish(estimator)
    raise ValueError(f"unknown policy {name!r}; choose one of {', '.join(POLICIES)}")
