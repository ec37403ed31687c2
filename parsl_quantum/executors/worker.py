"""What runs on a pilot's worker: build the pilot's device once, call the task with it, time it.

These functions are shipped to Parsl HighThroughputExecutor workers by reference, so they must stay
importable module-level functions.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass
from typing import Any

from parsl_quantum.providers.errors import BackendError


class DeviceBuildError(BackendError):
    """A worker could not build its pilot's device (the pilot, not the task, is at fault)."""


@dataclass
class WorkerOutcome:
    """What a worker sends back for one task.

    Attributes
    ----------
    value
        The function's return value, or Parsl's ``RemoteExceptionWrapper`` of what it raised.
    start, end
        Worker clock around the call.
    host, pid
        Where it ran.
    """

    value: Any
    start: float
    end: float
    host: str
    pid: int


def _device(backend: str, options: dict[str, Any]) -> Any:
    from parsl_quantum.providers.registry import get_device

    try:
        return get_device(backend, **options)
    except Exception as exc:
        raise DeviceBuildError(
            f"worker on {socket.gethostname()} could not build device '{backend}': "
            f"{type(exc).__name__}: {exc}"
        ) from exc


def run_task(
    backend: str, options: dict[str, Any], inject_device: bool, func: Any, args: tuple, kwargs: dict
) -> WorkerOutcome:
    """Call ``func`` on this worker with the pilot's device as ``device=`` (built once per worker)."""
    if inject_device:
        kwargs = {**kwargs, "device": _device(backend, options)}
    start = time.time()
    value = func(*args, **kwargs)
    end = time.time()
    return WorkerOutcome(value, start, end, socket.gethostname(), os.getpid())


def describe_device(backend: str, options: dict[str, Any]) -> dict[str, Any]:
    """Build the pilot's device on this worker and report what it can do."""
    device = _device(backend, options)
    return {"qubits": device.num_qubits, "fidelity": device.fidelity, "host": socket.gethostname()}
