"""``ensemble``: loosely coupled task parallelism (parameter sweeps, many circuits, Hamiltonian terms).

Coupling: loose. Every item is independent; items run as quantum tasks on whichever pilots are free, and
the only classical work is the optional reduce, which runs on the submitting host once all results are in.
``fn.map(items)`` returns an ``AppFuture`` of the results in input order (or of the reduced value).

Small items are batched: a task carries several items so that the per-task overhead (a few milliseconds
through Parsl and the pilot) stays a small fraction of the work. The batch size is learned: every batch
reports the time its items took, and maps size their batches to about ``TARGET_TASK_S`` of work each,
keeping at least two batches per worker for load balance (the first map of an ensemble, with nothing
learned yet, makes two batches per worker). A fixed ``batch_size`` turns this off.

A batch holds only items whose requirements are equal: each item's requirement functions (``kinds``,
``pilot``, ``min_fidelity``, ``qubits``...) are evaluated on that item, the items are grouped by the
values, and every batch carries its group's requirements, so the executor binds it where every one of its
items may run. An item that raises has its exception kept and the others go on, except for a
:class:`~parsl_quantum.errors.BackendError` (a fault of the backend, not of the item): it fails
the whole batch task, which the executor then runs again on another pilot, like any task. Results come
back in input order.
"""

from __future__ import annotations

import math
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from parsl import join_app, python_app
from parsl.app.errors import RemoteExceptionWrapper
from parsl.dataflow.futures import AppFuture

from parsl_quantum.circuits.normalize import QpyCircuits
from parsl_quantum.errors import BackendError
from parsl_quantum.executors.dfk_executors import worker_slots
from parsl_quantum.motifs.quantum_app import QuantumApp, has_futures
from parsl_quantum.motifs.task_requirements import Requirement, TaskRequirements, requirement_key
from parsl_quantum.motifs.waiting import when_done

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
    """Call ``fn(item, *args, device=device, **kwargs)`` for each item (on a worker).

    An item's exception is kept in the outcome and the next item runs, except a
    :class:`~parsl_quantum.errors.BackendError`: that is the backend's fault, so it fails the
    batch task, and the executor runs the batch again on another pilot.
    """
    if isinstance(items, QpyCircuits):
        items = items.unpack()
    outcome = BatchOutcome(values=[])
    start = time.perf_counter()
    for index, item in enumerate(items):
        try:
            outcome.values.append(fn(item, *args, device=device, **kwargs))
        except BackendError:
            raise
        except Exception:
            outcome.values.append(None)
            outcome.errors[index] = RemoteExceptionWrapper(*sys.exc_info())
    outcome.seconds = time.perf_counter() - start
    return outcome


def _pack(items: list[Any]) -> Any:
    """Ship circuits as QPY (Parsl's dill pickling of circuits costs more than simulating small ones)."""
    from qiskit import QuantumCircuit

    if items and all(isinstance(item, QuantumCircuit) for item in items):
        return QpyCircuits(items)
    return items


class EnsembleApp(QuantumApp):
    """A quantum app with :meth:`map` over many inputs (see :func:`ensemble`)."""

    def __init__(
        self,
        func: Callable[..., Any],
        executors: Sequence[str],
        requirements: TaskRequirements | dict[str, Requirement],
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
    def _submit_batch(self, items: list[Any], args: tuple, kwargs: dict, spec: dict[str, Any]) -> AppFuture:
        future = self._batch_app(_pack(items), args, kwargs, parsl_resource_specification=spec)
        future.add_done_callback(lambda f: None if f.exception() else self._learn(f.result()))
        return future

    def batches(
        self, items: list[Any], args: tuple, kwargs: dict, override: dict, batch_size: int | None
    ) -> list[tuple[list[int], dict[str, Any]]]:
        """How ``items`` are batched: ``(item indices, requirements)`` per batch.

        Items are grouped by their requirements (the requirement functions evaluated on each item, then
        ``override``), in order of first appearance; each group is cut into batches of the given or
        learned size. Every batch's items have equal requirements, and the batch carries them.
        """
        groups: dict[tuple, tuple[list[int], dict[str, Any]]] = {}
        for index, item in enumerate(items):
            spec = self.specification((item, *args), kwargs, override)
            groups.setdefault(requirement_key(spec), ([], spec))[0].append(index)
        slots = worker_slots(self.executors)
        batches = []
        for indices, spec in groups.values():
            start = 0
            while start < len(indices):
                size = batch_size or self.size_for(len(indices) - start, slots)
                batches.append((indices[start : start + size], spec))
                start += size
        return batches

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
        if self.requirements.has_functions and has_futures(args, kwargs):
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
        layout = self.batches(items, args, kwargs, override, batch_size)
        futures = [
            self._submit_batch([items[i] for i in indices], args, kwargs, spec) for indices, spec in layout
        ]
        name, count, indices = self.func.__name__, len(items), [indices for indices, _ in layout]

        def gather(done: list[Future]) -> Any:
            return assemble(name, count, indices, reducer, done)

        return when_done(futures, gather, f"{name}_assemble")


def assemble(
    name: str,
    count: int,
    layout: list[list[int]],
    reducer: Callable[[list[Any]], Any] | None,
    batches: list[Future],
) -> Any:
    """Put the batches' outcomes back in input order; raise :class:`EnsembleError` if some items failed.

    Parameters
    ----------
    name
        The ensemble's name, for the error message.
    count
        The number of items.
    layout
        The input indices of each batch's items.
    reducer
        Combines the results in input order, or ``None``.
    batches
        The batch tasks' futures, done; a batch task that failed as a whole fails each of its items.
    """
    results: list[Any] = [None] * count
    failures: dict[int, BaseException] = {}
    for indices, batch in zip(layout, batches, strict=True):
        exc = batch.exception()
        if exc is not None:
            failures.update(dict.fromkeys(indices, exc))
            continue
        outcome: BatchOutcome = batch.result()
        for index, value in zip(indices, outcome.values, strict=True):
            results[index] = value
        for position, wrapped in outcome.errors.items():
            failures[indices[position]] = wrapped.get_exception()
    if failures:
        raise EnsembleError(name, results, failures)
    return reducer(results) if reducer else results


def ensemble(
    function: Callable[..., Any] | None = None,
    *,
    executors: Sequence[str],
    batch_size: int | None = None,
    reduce: Callable[[list[Any]], Any] | None = None,
    **requirements: Requirement,
) -> Any:
    """Make ``function`` an ensemble: a quantum app with ``.map(items)`` over many independent inputs.

    Coupling: loose. Quantum work (each item, batched into tasks of items with equal requirements) runs
    on whichever pilots are free; classical work is only the optional ``reduce``, on the submitting host.
    ``fn.map(items)`` returns an ``AppFuture`` of the results in input order (or of ``reduce(results)``);
    ``fn(item)`` submits one task like a :func:`quantum_app`.

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
    **requirements
        Requirements of each item (see :class:`~parsl_quantum.motifs.task_requirements.TaskRequirements`):
        values or functions of ``(item, *args, **kwargs)``.
    """

    def decorate(func: Callable[..., Any]) -> EnsembleApp:
        where = f"ensemble '{getattr(func, '__name__', 'ensemble')}'"
        return EnsembleApp(
            func, executors, TaskRequirements.from_mapping(requirements, where), batch_size, reduce
        )

    return decorate(function) if function is not None else decorate
