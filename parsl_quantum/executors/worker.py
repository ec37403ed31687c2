"""What runs on a pilot's worker: build the pilot's device once, call the task with it, time it.

The task travels as Parsl serialises any app call (``pack_apply_message``, with its cache of
serialised functions); :func:`execute_on_device` is the HTEX *task executor* that unpacks it on the
worker, in place of Parsl's ``execute_task``. These functions are found on the worker by their import
path, so they must stay importable module-level functions.
"""

from __future__ import annotations

import contextlib
import functools
import os
import pickle
import signal
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

from parsl_quantum.executors.faults import DeviceBuildError, DeviceConfigError

__all__ = [
    "DeviceBuildError",
    "DeviceConfigError",
    "TaskWalltimeError",
    "describe_device",
    "execute_on_device",
    "ship",
    "unship",
]


class TaskWalltimeError(RuntimeError):
    """A task ran longer than its ``walltime`` requirement allows."""


# What a worker sends back for one task: ``(shipped value, start, end, worker)``. The value is the
# function's return value or Parsl's ``RemoteExceptionWrapper`` of what it raised, shipped by
# :func:`ship`; ``start``/``end`` are the worker's clock around the call; ``worker`` is ``host:pid``. A
# plain tuple, because Parsl serialises results with dill, which takes ~30 us for any instance of a class
# and ~8 us for a tuple.
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
def _worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _device(backend: str, options: dict[str, Any]) -> Any:
    from parsl_quantum.devices.registry import get_device

    try:
        return get_device(backend, **options)
    except Exception as exc:
        # a backend or option the registry rejects (a ValueError, or a TypeError from a wrong keyword)
        # fails the same way on every worker and every restart
        error = DeviceConfigError if isinstance(exc, (ValueError, TypeError)) else DeviceBuildError
        raise error(
            f"worker on {socket.gethostname()} could not build device '{backend}': "
            f"{type(exc).__name__}: {exc}"
        ) from exc


@contextlib.contextmanager
def _walltime(seconds: float | None) -> Iterator[None]:
    """Raise :class:`TaskWalltimeError` in the task if it runs longer than ``seconds``.

    Uses the worker's interval timer, so it interrupts Python code (a long native call is interrupted when
    it returns to Python). Only in a worker's main thread; elsewhere the limit is not enforced.
    """
    if seconds is None or threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(_signum: int, _frame: object) -> None:
        raise TaskWalltimeError(f"task ran longer than its walltime of {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def execute_on_device(
    buffer: bytes,
    backend: str,
    options: dict[str, Any],
    inject_device: bool,
    pilot: str = "",
    walltime: float | None = None,
) -> WorkerOutcome:
    """Unpack a task and call it, with the pilot's device as ``device=`` when it declares one (the device
    is built once per worker)."""
    from parsl.serialize import unpack_apply_message

    func, args, kwargs = unpack_apply_message(buffer)
    if inject_device:
        kwargs = {**kwargs, "device": _device(backend, options)}
    block = os.environ.get("PARSL_WORKER_BLOCK_ID", "")
    if pilot and not block.startswith(f"{pilot}/"):
        # Parsl monitoring records this as the try's block: name the pilot that ran it.
        os.environ["PARSL_WORKER_BLOCK_ID"] = f"{pilot}/{block}"
    start = time.time()
    with _walltime(walltime):
        value = func(*args, **kwargs)
    end = time.time()
    return ship(value), start, end, _worker_name()


def describe_device(backend: str, options: dict[str, Any]) -> dict[str, Any]:
    """Build the pilot's device on this worker and report what it can do, from where it runs.

    ``qubits`` is the device's width, which for a simulator is what fits in the memory this job may use
    (a Slurm or cgroup limit, not the node's total); ``memory_bytes`` is that memory.
    """
    from parsl_quantum.devices import hardware

    device = _device(backend, options)
    memory = hardware.job_memory_bytes()
    gpus = hardware.detect_gpus().count if device.kind == "gpu" else 0
    return {
        "qubits": device.num_qubits,
        "fidelity": device.fidelity,
        "host": socket.gethostname(),
        "memory_bytes": int(memory),
        "gpus": gpus,
    }
