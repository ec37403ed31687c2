"""What runs on a pilot's worker: build the pilot's device once, call the task with it, time it.

The task travels as Parsl serialises any app call (``pack_apply_message``, with its cache of
serialised functions); :func:`execute_on_device` is the HTEX *task executor* that unpacks it on the
worker, in place of Parsl's ``execute_task``. These functions are found on the worker by their import
path, so they must stay importable module-level functions.
"""

from __future__ import annotations

import socket
import time
from typing import Any

from parsl_quantum.providers.errors import BackendError


class DeviceBuildError(BackendError):
    """A worker could not build its pilot's device (the pilot, not the task, is at fault)."""


# What a worker sends back for one task: ``(value, start, end, host)``. ``value`` is the function's
# return value or Parsl's ``RemoteExceptionWrapper`` of what it raised; ``start``/``end`` are the worker's
# clock around the call. A plain tuple, because Parsl serialises results with dill, which takes ~30 us
# for any instance of a class and ~8 us for a tuple: on no-op tasks that difference is measurable.
WorkerOutcome = tuple[Any, float, float, str]


def _device(backend: str, options: dict[str, Any]) -> Any:
    from parsl_quantum.providers.registry import get_device

    try:
        return get_device(backend, **options)
    except Exception as exc:
        raise DeviceBuildError(
            f"worker on {socket.gethostname()} could not build device '{backend}': "
            f"{type(exc).__name__}: {exc}"
        ) from exc


def execute_on_device(
    buffer: bytes, backend: str, options: dict[str, Any], inject_device: bool
) -> WorkerOutcome:
    """Unpack a task and call it with the pilot's device as ``device=`` (built once per worker)."""
    from parsl.serialize import unpack_apply_message

    func, args, kwargs = unpack_apply_message(buffer)
    if inject_device:
        kwargs = {**kwargs, "device": _device(backend, options)}
    start = time.time()
    value = func(*args, **kwargs)
    return value, start, time.time(), socket.gethostname()


def describe_device(backend: str, options: dict[str, Any]) -> dict[str, Any]:
    """Build the pilot's device on this worker and report what it can do."""
    device = _device(backend, options)
    return {"qubits": device.num_qubits, "fidelity": device.fidelity, "host": socket.gethostname()}
