"""Named errors of the task layer. Each message names the task, the requirement and the limit.

The errors keep the executor's label, not the executor, so that they pickle and print cheaply.
"""

from __future__ import annotations

from parsl.errors import ParslError


class QuantumExecutorError(ParslError):
    """Base class of the errors a :class:`QuantumPilotExecutor` sets on task futures."""

    def __init__(self, label: str, reason: str) -> None:
        super().__init__(label, reason)
        self.label = label
        self.reason = reason

    def __str__(self) -> str:
        return f"executor '{self.label}': {self.reason}"


class UnschedulableTaskError(QuantumExecutorError):
    """No pilot of the executor can ever serve a task (or none can any more)."""

    def __init__(self, label: str, task_id: int, reason: str) -> None:
        super().__init__(label, f"task {task_id} cannot run: {reason}")
        self.task_id = task_id


class TaskFailoverExhaustedError(QuantumExecutorError):
    """A task's attempts ended in task faults (its worker died) or backend errors ``max_attempts`` times.

    The message names the task, the pilots it ran on and the cause of each attempt.
    """

    def __init__(self, label: str, task_id: int, attempts: list[str], name: str = "") -> None:
        history = "; ".join(attempts)
        what = f"task {task_id}" + (f" ({name})" if name else "")
        super().__init__(label, f"{what} gave up after {len(attempts)} failed attempts: {history}")
        self.task_id = task_id
        self.attempts = attempts


class ExecutorShutdownError(QuantumExecutorError):
    """A task still waiting when its executor shut down."""


class PilotError(QuantumExecutorError):
    """An operation on a pilot that cannot be done (unknown name, duplicate name...)."""
