"""Plain values the unit tier builds its inputs from: tasks, pilots as binding sees them, pilot models.

Nothing here starts a process or a DataFlowKernel: the pure functions under test take these values as
they would take the executor's own.
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from parsl_quantum.executors.durations import signature_of
from parsl_quantum.executors.metrics import TaskRecord
from parsl_quantum.executors.requirements import Requirements
from parsl_quantum.executors.task import QuantumTask
from parsl_quantum.executors.task_queue import TaskQueue
from parsl_quantum.q_dreamer.model.models import PilotModel, SimulatorModel


def make_task(
    task_id: int,
    *,
    priority: int = 0,
    eligible: Iterable[str] = (),
    seq: int | None = None,
    avoid: Iterable[str] = (),
    name: str = "f",
    qubits: int = 0,
    shots: int | None = None,
) -> QuantumTask:
    """A waiting task as the executor holds it (``seq`` defaults to ``task_id``; ``eligible`` and
    ``avoid`` are pilot names, so ``"ab"`` means pilots ``a`` and ``b``)."""
    requirements = Requirements(qubits=qubits, shots=shots, priority=priority)
    return QuantumTask(
        task_id=task_id,
        seq=task_id if seq is None else seq,
        buffer=b"",
        requirements=requirements,
        info=signature_of(name, qubits, shots),
        future=Future(),
        record=TaskRecord(task_id=task_id, name=name, submit=0.0),
        eligible=frozenset(eligible),
        avoid=set(avoid),
    )


def queue_of(*tasks: QuantumTask) -> TaskQueue:
    """A queue holding ``tasks``, pushed in the order given."""
    queue = TaskQueue()
    for task in tasks:
        queue.push(task)
    return queue


@dataclass
class PilotView:
    """What :mod:`parsl_quantum.executors.binding` reads of a pilot, as a plain value.

    ``in_flight`` maps task ids to tasks, as the real pilot's does; only its length is read.
    """

    name: str
    capacity: int = 1
    limit: int = 2
    in_flight: dict[int, Any] = field(default_factory=dict)
    fidelity: float | None = None
    wants_work: bool = True
    accepting: bool = True

    @classmethod
    def holding(cls, name: str, held: int, **kwargs: Any) -> PilotView:
        """A pilot with ``held`` tasks in flight."""
        return cls(name, in_flight=dict.fromkeys(range(held)), **kwargs)


@dataclass
class PilotTraitsView:
    """What :meth:`Requirements.unmet_by` reads of a pilot (``None``: not known yet)."""

    name: str
    kind: str = "cpu"
    qubits: int | None = None
    fidelity: float | None = None


def linear_model(
    name: str, per_shot: float, *, fixed: float = 1.0, workers: int = 1, **kwargs: Any
) -> PilotModel:
    """A simulator pilot whose circuit time is ``fixed + per_shot * shots`` whatever the circuit."""
    simulator = SimulatorModel(c0=fixed, c1=0.0, c2=per_shot, **kwargs)
    return PilotModel(name, "cpu", "aer", workers=workers, task_overhead=0.0, simulator=simulator)
