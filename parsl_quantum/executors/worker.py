"""What runs on a pilot's worker: build the pilot's device once, call the task with it, time it.

The task travels as Parsl serialises any app call (``pack_apply_message``, with its cache of
serialised functions); :func:`execute_on_device` is the HTEX *task executor* that unpacks it on the
worker, in place of Parsl's ``execute_task``. These functions are found on the worker by their import
path, so they must stay importable module-level functions.
"""

from __future__ import annotations

import functools
import pickle
import socket
import time
from typing import Any

from parsl_quantum.providers.errors import BackendError


class DeviceBuildError(BackendError):
    """A worker could not build its pilot's device (the pilot, not the task, is at fault)."""


# What a worker sends back for one task: ``(shipped value, start, end, host)``. The value is the
# function's return value or Parsl's ``RemoteExceptionWrapper`` of what it raised, shipped by
# :func:`ship`; ``start``/``end`` are the worker's clock around the call. A plain tuple, because Parsl
# serialises results with dill, which takes ~30 us for any instance of a class and ~8 us for a tuple.
WorkerOutcome = tuple[Any, float, float, str]
_PICKLED = b"parsl-quantum/pickle"


def ship(value: Any) -> Any:
    """Pre-serialise a result with the C pickler when it can (dill, which Parsl uses for results, is
    ~45 times slower on the dicts of counts tasks return); otherwise leave it to Parsl's dill."""
    try:
        return (_PICKLED, pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))
    except Exception:  # lambdas, closures, objects only dill can serialise
        return value


def unship(shipped: Any) -> Any:
    """The value :func:`ship` shipped."""
    if type(shipped) is tuple and len(shipped) == 2 and shipped[0] == _PICKLED:
        return pickle.loads(shipped[1])
    return shipped


@functools.cache
def _hostname() -> str:
    return socket.gethostname()


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
    end = time.time()
    return ship(value), start, end, _hostname()


def describe_device(backend: str, options: dict[str, Any]) -> dict[str, Any]:
    """Build the pilot's device on this worker and report what it can do."""
    device = _device(backend, options)
    return {"qubits": device.num_qubits, "fidelity": device.fidelity, "host": socket.gethostname()}
