"""Task layer: the QuantumPilotExecutor, late binding and placement over heterogeneous pilots that
recover from faults."""

from parsl_quantum.executors.errors import (
    ExecutorShutdownError,
    PilotError,
    QuantumExecutorError,
    TaskFailoverExhaustedError,
    UnschedulableTaskError,
)
from parsl_quantum.executors.executor import QuantumPilotExecutor
from parsl_quantum.executors.faults import Fault
from parsl_quantum.executors.metrics import TaskRecord, read_metrics
from parsl_quantum.executors.pilot_runtime import PilotStatus
from parsl_quantum.executors.pilot_states import PilotState
from parsl_quantum.executors.policies import POLICIES
from parsl_quantum.executors.worker import TaskWalltimeError

__all__ = [
    "POLICIES",
    "ExecutorShutdownError",
    "Fault",
    "PilotError",
    "PilotState",
    "PilotStatus",
    "QuantumExecutorError",
    "QuantumPilotExecutor",
    "TaskFailoverExhaustedError",
    "TaskRecord",
    "TaskWalltimeError",
    "UnschedulableTaskError",
    "read_metrics",
]
