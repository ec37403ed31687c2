"""A quantum task as the executor holds it between submission and completion."""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass, field

from parsl_quantum.executors.durations import SignatureInfo
from parsl_quantum.executors.metrics import TaskRecord
from parsl_quantum.executors.requirements import Requirements


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
        Number of bindings so far (what ``TaskRecord.attempts`` reports).
    counted
        Attempts that count against ``max_attempts``: task faults and backend errors, not pilot faults.
    generation
        Changes each time the task is requeued; a result from an older binding is ignored.
    failures
        Why earlier attempts failed (never the task's own exceptions).
    avoid
        Pilots that gave this task a backend error; other eligible pilots are preferred.
    waiting_since
        When the task last found no live pilot that could serve it (``None`` while some can).
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
    counted: int = 0
    generation: int = 0
    pilot: str | None = None
    failures: list[str] = field(default_factory=list)
    avoid: set[str] = field(default_factory=set)
    waiting_since: float | None = None

    @property
    def sort_key(self) -> tuple[int, int]:
        """Queue order: larger priority first, then submission order."""
        return (-self.requirements.priority, self.seq)
