"""A quantum task as the executor holds it between submission and completion."""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass, field

from parsl_quantum.executors.metrics import TaskRecord
from parsl_quantum.executors.requirements import Requirements
from parsl_quantum.executors.runtime_estimates import SignatureInfo


@dataclass(eq=False)
class QuantumTask:
    """One task: the call, its requirements, its future and its history.

    Attributes
    ----------
    task_id
        The executor's id of the task (also ``future.parsl_executor_task_id``).
    buffer
        The call (function, arguments) serialised as Parsl serialises any app call; serialised once at
        submission, whichever pilot later runs it.
    seq
        Submission order, used to break priority ties first-come first-served.
    eligible
        Names of the current pilots that can serve the task.
    attempt
        Number of bindings so far; a result from an older binding is ignored.
    failures
        Why earlier attempts failed (pilot faults, never the task's own exceptions).
    """

    task_id: int
    seq: int
    buffer: bytes
    requirements: Requirements
    info: SignatureInfo
    future: Future
    record: TaskRecord
    inject_device: bool = True
    eligible: frozenset[str] = frozenset()
    attempt: int = 0
    pilot: str | None = None
    failures: list[str] = field(default_factory=list)

    @property
    def sort_key(self) -> tuple[int, int]:
        """Queue order: larger priority first, then submission order."""
        return (-self.requirements.priority, self.seq)
