"""Task layer: the QuantumPilotExecutor, late binding and placement over heterogeneous pilots that
recover from faults.

Names load on first use, so that the leaf modules (``metrics`` for a run report, ``faults``,
``pilot_states``) import without Parsl.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_WHERE = {
    "ExecutorShutdownError": "errors",
    "PilotError": "errors",
    "QuantumExecutorError": "errors",
    "TaskFailoverExhaustedError": "errors",
    "UnschedulableTaskError": "errors",
    "QuantumPilotExecutor": "executor",
    "Fault": "faults",
    "TaskRecord": "metrics",
    "read_metrics": "metrics",
    "PilotStatus": "pilot_runtime",
    "PilotState": "pilot_states",
    "POLICIES": "policies",
    "TaskWalltimeError": "worker",
}

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


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:
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
    from parsl_quantum.executors.pilot_states import PilotState
    from parsl_quantum.executors.policies import POLICIES
    from parsl_quantum.executors.running_pilot import PilotStatus
    from parsl_quantum.executors.worker import TaskWalltimeError
