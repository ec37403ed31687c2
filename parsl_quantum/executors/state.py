"""What the executor's scheduling and supervision share: pilots, waiting and running tasks, one lock.

:class:`ExecutorState` is one explicit object that :mod:`~parsl_quantum.executors.scheduling` (queue,
binding, completion) and :mod:`~parsl_quantum.executors.supervision` (liveness, faults, recovery) both
work on; neither keeps state of its own. Everything in it is read and changed with ``lock`` held.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from parsl_quantum.executors.durations import RuntimeEstimator
from parsl_quantum.executors.metrics import MetricsStore, TaskRecord
from parsl_quantum.executors.pilot_states import LIVE_STATES, PilotState
from parsl_quantum.executors.policies import PlacementPolicy
from parsl_quantum.executors.requirements import Requirements
from parsl_quantum.executors.running_pilot import Pilot
from parsl_quantum.executors.task import QuantumTask
from parsl_quantum.executors.task_queue import TaskQueue

CompletionListener = Callable[[TaskRecord], None]


@dataclass(eq=False)
class ExecutorState:
    """The shared state of one :class:`~parsl_quantum.executors.QuantumPilotExecutor`.

    Attributes
    ----------
    label
        The executor's label (named in errors).
    max_attempts
        Attempts a task may spend on task faults and backend errors.
    pilot_wait_timeout
        Seconds a task waits for a pilot that is starting, recovering or may be added.
    estimator, policy
        Runtime predictions and the placement policy that uses them.
    pilots
        Every pilot by name, live or not.
    queue, tasks
        Waiting tasks; every unfinished task by id (waiting or running).
    eligibility
        Cache: the live pilots that meet each set of requirements.
    removed
        Names of pilots the user removed: tasks may wait for a pilot added in their place.
    """

    label: str
    max_attempts: int
    pilot_wait_timeout: float
    estimator: RuntimeEstimator
    policy: PlacementPolicy
    lock: threading.Lock = field(default_factory=threading.Lock)
    pilots: dict[str, Pilot] = field(default_factory=dict)
    queue: TaskQueue = field(default_factory=TaskQueue)
    tasks: dict[int, QuantumTask] = field(default_factory=dict)
    eligibility: dict[Requirements, frozenset[str]] = field(default_factory=dict)
    removed: set[str] = field(default_factory=set)
    next_id: int = 0
    stop: threading.Event = field(default_factory=threading.Event)
    metrics: MetricsStore = field(default_factory=lambda: MetricsStore(None))
    listeners: list[CompletionListener] = field(default_factory=list)

    def live_pilots(self) -> list[Pilot]:
        """Pilots that serve, or will serve again, new work."""
        return [p for p in self.pilots.values() if p.state in LIVE_STATES]

    def may_come(self) -> bool:
        """Whether a task that no live pilot can serve should wait: some pilot is draining, or the user
        removed one (and may add another), or there is no pilot yet. Pilots that FAILED never come back."""
        if not self.pilots:
            return True
        return any(p.state is PilotState.DRAINING for p in self.pilots.values()) or bool(self.removed)

    def pilots_report(self) -> str:
        """Each pilot's state and reason, for error messages."""
        if not self.pilots:
            return "the executor has no pilot"
        return "; ".join(
            f"{p.name}: {p.state.value} ({p.reason or 'no fault'})" for p in self.pilots.values()
        )
