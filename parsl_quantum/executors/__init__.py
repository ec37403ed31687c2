"""Task layer: the QuantumPilotExecutor, late binding and placement over heterogeneous pilots."""

from parsl_quantum.executors.errors import (
    ExecutorShutdownError,
    PilotError,
    QuantumExecutorError,
    TaskFailoverExhaustedError,
    UnschedulableTaskError,
)
from parsl_quantum.executors.executor import QuantumPilotExecutor
from parsl_quantum.executors.metrics import TaskRecord, read_metrics
from parsl_quantum.executors.pilot import PilotState, PilotStatus
from parsl_quantum.executors.policies import POLICIES

__all__ = [
    "POLICIES",
    "ExecutorShutdownError",
    "PilotError",
    "PilotState",
    "PilotStatus",
    "QuantumExecutorError",
    "QuantumPilotExecutor",
    "TaskFailoverExhaustedError",
    "TaskRecord",
    "UnschedulableTaskError",
    "read_metrics",
]
