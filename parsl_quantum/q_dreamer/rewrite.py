"""Rewriting a cut circuit into the Parsl DAG: fragment tasks, then a reconstruction task.

The subexperiments of a :class:`CutProblem` are grouped into *fragments*, each one quantum task on the
quantum executor (many small circuits per task, shipped as QPY), sized so that every connected worker gets
work and no task is too small to pay its overhead. A reconstruction task depends on all fragment tasks and
returns the expectation values with their standard errors; its ``AppFuture`` is what the caller gets, and
downstream apps use it like any other.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import Future
from typing import Any

from parsl import join_app, python_app
from parsl.dataflow.futures import AppFuture

from parsl_quantum.executors.capacity import worker_slots
from parsl_quantum.providers.circuits import PackedCircuits
from parsl_quantum.q_dreamer.decompose import CutProblem
from parsl_quantum.q_dreamer.reconstruct import Reconstruction, reconstruct


def sample_fragment(circuits: PackedCircuits, shots: Sequence[int], *, device: Any) -> list[dict[str, int]]:
    """Counts of a fragment's subexperiments on the pilot's device (runs on a worker)."""
    unpacked = circuits.unpack()
    counts: list[dict[str, int]] = [{} for _ in unpacked]
    by_shots: dict[int, list[int]] = {}
    for index, n in enumerate(shots):
        by_shots.setdefault(int(n), []).append(index)
    for n, indices in by_shots.items():
        for index, result in zip(
            indices, device.sample([unpacked[i] for i in indices], shots=n), strict=True
        ):
            counts[index] = result
    return counts


def fragment_count(subexperiments: int, slots: int) -> int:
    """Fragment tasks for ``subexperiments`` circuits over ``slots`` workers: two per worker, at most one
    per circuit (two per worker lets a fast worker take a second while a slow one finishes)."""
    return min(subexperiments, 2 * max(slots, 1))


def fragments(
    work: Sequence[tuple[Hashable, int, Any, int]],
    slots: int,
    cost: Callable[[Any, int], float] | None = None,
) -> list[list[tuple[Hashable, int, Any, int]]]:
    """Group subexperiments ``(label, index, circuit, shots)`` into fragments of about equal cost.

    Parameters
    ----------
    work
        The subexperiments.
    slots
        Workers to keep busy: there are at least two fragments per worker when there is enough work.
    cost
        Predicted cost of running ``circuit`` with ``shots`` (default: proportional to shots).
    """
    if not work:
        return []
    cost = cost or (lambda circuit, shots: float(shots))
    costs = [cost(c, n) for _, _, c, n in work]
    count = fragment_count(len(work), slots)
    target = sum(costs) / count
    groups: list[list[tuple[Hashable, int, Any, int]]] = [[]]
    spent = 0.0
    for item, item_cost in zip(work, costs, strict=True):
        if groups[-1] and spent + item_cost > target * 1.0001 and len(groups) < count:
            groups.append([])
            spent = 0.0
        groups[-1].append(item)
        spent += item_cost
    return groups


def submit_cut(
    problem: CutProblem,
    shots: Sequence[int],
    executors: Sequence[str],
    classical_executors: Sequence[str] | None = None,
    requirements: dict[str, Any] | None = None,
    cost: Callable[[Any, int], float] | None = None,
    seed: int | None = None,
    on_fragment: Callable[[int, AppFuture], None] | None = None,
) -> AppFuture:
    """Submit the fragment tasks and the reconstruction task of ``problem``.

    Parameters
    ----------
    problem
        The cutting decomposition.
    shots
        Shots per subexperiment index (see :func:`~parsl_quantum.q_dreamer.shots.allocate_shots`).
    executors
        Quantum executors for the fragment tasks.
    classical_executors
        Executors for the reconstruction task; ``None`` reconstructs on the submitting host once the
        fragments are in.
    requirements
        Extra requirements of the fragment tasks (``kinds``, ``pilot``, ``priority``...).
    cost
        Predicted cost of a subexperiment, used to balance fragments.
    seed
        Seed of the standard-error split.
    on_fragment
        Called with each fragment task's index and future, in :func:`fragments` order.

    Returns
    -------
    AppFuture
        Of a :class:`~parsl_quantum.q_dreamer.reconstruct.Reconstruction`.
    """
    if len(shots) != len(problem.coefficients):
        raise ValueError(f"{len(shots)} shot counts for {len(problem.coefficients)} subexperiment indices")
    work = []
    for label, circuits in problem.subexperiments.items():
        groups = len(circuits) // len(problem.coefficients)
        work.extend((label, i, qc, int(shots[i // groups])) for i, qc in enumerate(circuits))
    spec = {"qubits": problem.widest, **(requirements or {})}
    fragment_app = python_app(sample_fragment, executors=list(executors))
    launched = []
    for group in fragments(work, worker_slots(executors), cost):
        total = sum(n for *_, n in group)
        future = fragment_app(
            PackedCircuits([qc for _, _, qc, _ in group]),
            [n for *_, n in group],
            parsl_resource_specification={**spec, "shots": total},
        )
        if on_fragment is not None:
            on_fragment(len(launched), future)
        launched.append(([(label, i) for label, i, _, _ in group], future))
    layout = {label: len(circuits) for label, circuits in problem.subexperiments.items()}
    arguments = (
        layout,
        problem.coefficients,
        problem.subobservables,
        problem.paulis,
        problem.observables,
        seed,
    )
    index = [slots for slots, _ in launched]
    futures = [future for _, future in launched]
    if classical_executors:
        return python_app(reconstruct_fragments, executors=list(classical_executors))(
            *arguments, index, *futures
        )
    return join_app(_reconstruct_when_done)(arguments, index, futures)


def reconstruct_fragments(
    layout: dict[Hashable, int],
    coefficients: Sequence[tuple[float, Any]],
    subobservables: dict[Hashable, Any],
    paulis: Any,
    observables: Sequence[Any],
    seed: int | None,
    index: Sequence[Sequence[tuple[Hashable, int]]],
    *fragment_counts: list[dict[str, int]],
) -> Reconstruction:
    """The reconstruction task: put fragment counts back in subexperiment order and reconstruct."""
    counts: dict[Hashable, list[dict[str, int]]] = {label: [{}] * n for label, n in layout.items()}
    for slots, results in zip(index, fragment_counts, strict=True):
        for (label, i), result in zip(slots, results, strict=True):
            counts[label][i] = result
    smallest = min(sum(c.values()) for runs in counts.values() for c in runs)
    batches = max(2, min(8, smallest))
    return reconstruct(counts, coefficients, subobservables, paulis, observables, batches=batches, seed=seed)


def _reconstruct_when_done(arguments: tuple, index: list, futures: list[AppFuture]) -> Future:
    """A future completed by callbacks once every fragment is in (no thread waits for them)."""
    final: Future = Future()
    remaining = [len(futures)]
    lock = threading.Lock()

    def on_done(_: Future) -> None:
        with lock:
            remaining[0] -= 1
            if remaining[0]:
                return
        try:
            final.set_result(reconstruct_fragments(*arguments, index, *[f.result() for f in futures]))
        except BaseException as exc:
            final.set_exception(exc)

    for future in futures:
        future.add_done_callback(on_done)
    if not futures:
        final.set_exception(ValueError("a cut problem without subexperiments"))
    return final
