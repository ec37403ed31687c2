"""``ensemble``: loosely coupled task parallelism (parameter sweeps, many circuits, Hamiltonian terms).

Coupling: loose. Every item is independent; items run as quantum tasks on whichever pilots are free, and
the only classical work is the optional reduce, which runs on the submitting host once all results are in.
``fn.map(items)`` returns an ``AppFuture`` of the results in input order (or of the reduced value).

Small items are batched: a task carries several items so that the per-task overhead (a few milliseconds
through Parsl and the pilot) stays a small fraction of the work. The batch size is learned: every batch
reports the time its items took, and maps size their batches to about ``TARGET_TASK_S`` of work each,
keeping at least two batches per worker for load balance (the first map of an ensemble, with nothing
learned yet, makes two batches per worker). A fixed ``batch_size`` turns this off.
"""

from __future__ import annotations

import math
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from parsl import join_app, python_app
from parsl.app.errors import RemoteExceptionWrapper
from parsl.dataflow.futures import AppFuture

from parsl_quantum.executors.capacity import worker_slots
from parsl_quantum.executors.internal import INTERNAL_EXECUTOR
from parsl_quantum.motifs.quantum_app import QuantumApp, Requirement, has_futures
from parsl_quantum.providers.circuits import PackedCircuits

TARGET_TASK_S = 0.2
"""Seconds of work a batch aims for: ~40x a task's overhead, so the overhead stays near 2.5%."""


class EnsembleError(RuntimeError):
    """Some items of an ensemble failed; the others' results are kept.

    Attributes
    ----------
    results
        One entry per item: its result, or ``None`` where it failed.
    failures
        ``{item index: exception}`` for the items that failed.
    """

    def __init__(self, name: str, results: list[Any], failures: dict[int, BaseException]) -> None:
        first = min(failures)
        super().__init__(
            f"ensemble '{name}': {len(failures)} of {len(results)} items failed; "
            f"first, item {first}: {type(failures[first]).__name__}: {failures[first]}"
        )
        self.results = results
        self.failures = failures


@dataclass
class BatchOutcome:
    """What a batch task returns: one value per item, the items that raised, and the time spent."""

    values: list[Any]
    errors: dict[int, RemoteExceptionWrapper] = field(default_factory=dict)
    seconds: float = 0.0


def run_batch(fn: Callable[..., Any], items: Any, args: tuple, kwargs: dict, device: Any) -> BatchOutcome:
    """Call ``fn(item, *args, device=device, **kwargs)`` for each item (on a worker)."""
    if isinstance(items, PackedCircuits):
        items = items.unpack()
    outcome = BatchOutcome(values=[])
    start = time.perf_counter()
    for index, item in enumerate(items):
        try:
            outcome.values.append(fn(item, *args, device=device, **kwargs))
        except Exception:
            outcome.values.append(None)
            outcome.errors[index] = RemoteExceptionWrapper(*sys.exc_info())
    outcome.seconds = time.perf_counter() - start
    return outcome


def _pack(items: list[Any]) -> Any:
    """Ship circuits as QPY (Parsl's dill pickling of circuits costs more than simulating small ones)."""
    from qiskit import QuantumCircuit

    if items and all(isinstance(item, QuantumCircuit) for item in items):
        return PackedCircuits(items)
    return items


class EnsembleApp(QuantumApp):
    """A quantum app with :meth:`map` over many inputs (see :func:`ensemble`)."""

    def __init__(
        self,
        func: Callable[..., Any],
        executors: Sequence[str],
        requirements: dict[str, Requirement],
        batch_size: int | None = None,
        reduce: Callable[[list[Any]], Any] | None = None,
    ) -> None:
        super().__init__(func, executors, requirements)
        if batch_size is not None and batch_size < 1:
            raise ValueError(f"ensemble '{func.__name__}': batch_size must be >= 1, got {batch_size}")
        self.batch_size = batch_size
        self.reduce = reduce
        self.item_seconds: float | None = None  # learned per-item runtime
        self._lock = threading.Lock()

        def batch(items: Any, args: tuple, kwargs: dict, *, device: Any) -> BatchOutcome:
            return run_batch(func, items, args, kwargs, device)

        batch.__name__ = batch.__qualname__ = f"{func.__name__}_batch"
        self._batch_app = python_app(batch, executors=self.executors)

    # -- sizing ------------------------------------------------------------------------------------
    def _learn(self, outcome: BatchOutcome) -> None:
        if not outcome.values:
            return
        per_item = outcome.seconds / len(outcome.values)
        with self._lock:
            old = self.item_seconds
            self.item_seconds = per_item if old is None else 0.5 * old + 0.5 * per_item

    def size_for(self, remaining: int, slots: int) -> int:
        """Items per batch for ``remaining`` items over ``slots`` workers, from the learned item time."""
        if self.batch_size is not None:
            return self.batch_size
        balance = max(1, math.ceil(remaining / (2 * slots)))  # at least two batches per worker
        if self.item_seconds is None:
            return balance
        return max(1, min(balance, math.ceil(TARGET_TASK_S / max(self.item_seconds, 1e-6))))

    # -- submission --------------------------------------------------------------------------------
    def _submit_batch(self, items: list[Any], args: tuple, kwargs: dict, override: dict) -> AppFuture:
        specs = [self.specification((item, *args), kwargs) for item in items]
        spec = dict(specs[0])
        if "qubits" in spec:
            spec["qubits"] = max(s["qubits"] for s in specs)
        spec.update(override)
        future = self._batch_app(_pack(items), args, kwargs, parsl_resource_specification=spec)
        future.add_done_callback(lambda f: None if f.exception() else self._learn(f.result()))
        return future

    def map(
        self,
        iterable: Iterable[Any],
        *args: Any,
        reduce: Callable[[list[Any]], Any] | None = None,
        batch_size: int | None = None,
        parsl_resource_specification: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> AppFuture:
        """Run the function on every item; an ``AppFuture`` of the results in input order.

        Parameters
        ----------
        iterable
            The items; each becomes the function's first argument.
        *args, **kwargs
            Further arguments, the same for every item (futures are waited for).
        reduce
            Combines the list of results into the future's value (default: the ensemble's ``reduce``,
            or none). It runs on the submitting host.
        batch_size
            Items per task for this map (default: the ensemble's, or learned).
        parsl_resource_specification
            Requirements overriding the ensemble's for this map (e.g. ``{"kinds": ["qpu"]}``).

        Raises
        ------
        EnsembleError
            Through the future, if some items failed (the others' results are in ``error.results``).
        """
        items = list(iterable)
        override = dict(parsl_resource_specification or {})
        reducer = reduce or self.reduce
        if any(callable(v) for v in self.requirements.values()) and has_futures(args, kwargs):
            # requirement functions need the arguments' values: submit once they are known
            def deferred(*ready: Any, **ready_kwargs: Any) -> AppFuture:
                return self.map(
                    items,
                    *ready,
                    reduce=reducer,
                    batch_size=batch_size,
                    parsl_resource_specification=override,
                    **ready_kwargs,
                )

            deferred.__name__ = f"{self.func.__name__}_map"
            return join_app(deferred)(*args, **kwargs)
        slots = worker_slots(self.executors)
        layout: list[tuple[int, int]] = []
        futures = []
        start = 0
        while start < len(items):
            size = batch_size or self.size_for(len(items) - start, slots)
            futures.append(self._submit_batch(items[start : start + size], args, kwargs, override))
            layout.append((start, len(items[start : start + size])))
            start += size
        gather = python_app(assemble, executors=[INTERNAL_EXECUTOR])
        return gather(self.func.__name__, len(items), layout, reducer, *futures)


def assemble(
    name: str,
    count: int,
    layout: list[tuple[int, int]],
    reducer: Callable[[list[Any]], Any] | None,
    *outcomes: BatchOutcome,
) -> Any:
    """Put batch outcomes back in input order; raise :class:`EnsembleError` if some items failed."""
    results: list[Any] = [None] * count
    failures: dict[int, BaseException] = {}
    for (offset, _), outcome in zip(layout, outcomes, strict=True):
        results[offset : offset + len(outcome.values)] = outcome.values
        for index, wrapped in outcome.errors.items():
            failures[offset + index] = wrapped.get_exception()
    if failures:
        raise EnsembleError(name, results, failures)
    return reducer(results) if reducer else results


def ensemble(
    function: Callable[..., Any] | None = None,
    *,
    executors: Sequence[str],
    batch_size: int | None = None,
    reduce: Callable[[list[Any]], Any] | None = None,
    qubits: Requirement = None,
    kinds: Requirement = None,
    pilot: Requirement = None,
    shots: Requirement = None,
    priority: Requirement = None,
    min_fidelity: Requirement = None,
) -> Any:
    """Make ``function`` an ensemble: a quantum app with ``.map(items)`` over many independent inputs.

    Coupling: loose. Quantum work (each item, batched into tasks) runs on whichever pilots are free;
    classical work is only the optional ``reduce``, on the submitting host. ``fn.map(items)`` returns an
    ``AppFuture`` of the results in input order (or of ``reduce(results)``); ``fn(item)`` submits one
    task like a :func:`quantum_app`.

    Parameters
    ----------
    function
        ``function(item, *args, device, **kwargs)``.
    executors
        Labels of the quantum executors.
    batch_size
        Items per task; ``None`` learns it from observed runtimes.
    reduce
        Default reduction of the results list.
    qubits, kinds, pilot, shots, priority, min_fidelity
        Requirements: values or functions of ``(item, *args, **kwargs)``.
    """
    requirements = {
        "qubits": qubits,
        "kinds": kinds,
        "pilot": pilot,
        "shots": shots,
        "priority": priority,
        "min_fidelity": min_fidelity,
    }

    def decorate(func: Callable[..., Any]) -> EnsembleApp:
        return EnsembleApp(func, executors, requirements, batch_size, reduce)

    return decorate(function) if function is not None else decorate
