"""Rewriting a cut circuit into the Parsl DAG: fragment tasks, then a reconstruction task.

The subexperiments of a :class:`CutProblem` are grouped into *fragments*, each one quantum task on the
quantum executor (many small circuits per task, shipped as QPY), sized so that every connected worker gets
work and no task is too small to pay its overhead. A problem bound from a cut template ships the
template's parametrised circuits and the angles instead
(:class:`~parsl_quantum.q_dreamer.planning.template.ShippedTemplate`): the bytes are written once per
fragment, and a worker keeps what it unpacked by their key, so that a variational loop's next step sends
and prepares nothing but its angles. Each fragment task also processes its own outcomes
(:func:`~parsl_quantum.q_dreamer.planning.reconstruct.process_fragment`), in parallel on the workers, so
that the reconstruction task, which depends on all of them, only combines a few numbers per
subexperiment. A cut problem made for the distribution of the measured bits
(:mod:`~parsl_quantum.q_dreamer.planning.reconstruct_distribution`) runs the same way: its fragments
tally their bits instead, and its reconstruction gives a
:class:`~parsl_quantum.q_dreamer.distribution.Distribution`. The reconstruction is an ordinary Parsl task:
on the classical executors given, or else on the DataFlowKernel's internal thread executor, never on the
thread that delivers a pilot's results. Its ``AppFuture`` is what the caller gets, and downstream apps use
it like any other.
"""

from __future__ import annotations

import heapq
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from functools import lru_cache
from typing import Any

import numpy as np
from parsl import python_app
from parsl.dataflow.futures import AppFuture

from parsl_quantum.circuits.normalize import QpyCircuits
from parsl_quantum.executors.dfk_executors import INTERNAL_EXECUTOR, worker_slots
from parsl_quantum.q_dreamer.distribution import Distribution
from parsl_quantum.q_dreamer.planning.decompose import CutProblem
from parsl_quantum.q_dreamer.planning.reconstruct import (
    ProcessedCounts,
    Reconstruction,
    batches_for,
    combine,
    outcome_groups,
    process_fragment,
)
from parsl_quantum.q_dreamer.planning.reconstruct_distribution import (
    BitLayout,
    SignedTallies,
    combine_distribution,
    process_fragment_outcomes,
)
from parsl_quantum.q_dreamer.planning.template import ShippedTemplate


@lru_cache(maxsize=64)
def _app(function: Callable[..., Any], executors: tuple[str, ...]) -> Any:
    """``python_app(function, executors=executors)``, made once (wrapping a function costs about as
    much as submitting it; the app takes the DataFlowKernel loaded when it is called)."""
    return python_app(function, executors=list(executors))


def sample_fragment(
    circuits: QpyCircuits | ShippedTemplate,
    shots: Sequence[int],
    readings: Sequence[Any],
    batches: int,
    seed: int | None,
    process: Callable[..., list[Any]] = process_fragment,
    *,
    device: Any,
) -> list[Any]:
    """Sample a fragment's subexperiments on the pilot's device and process their outcomes (runs on a
    worker): ``process(counts, readings, batches, seed)``, with one reading per subexperiment
    (:func:`~parsl_quantum.q_dreamer.planning.reconstruct.process_fragment` and its outcome groups for
    values, :func:`~parsl_quantum.q_dreamer.planning.reconstruct_distribution.process_fragment_outcomes`
    and its bit positions for a distribution)."""
    return process(sample_circuits(circuits, shots, device=device), readings, batches, seed)


UNPACKED_KEPT = 16
"""Most shipped templates a worker keeps unpacked (the least recently used is dropped)."""

_unpacked: OrderedDict[str, list[Any]] = OrderedDict()


def unpacked_template(shipped: ShippedTemplate) -> list[Any]:
    """The circuits of ``shipped``, unpacked once per worker process and kept by their key."""
    circuits = _unpacked.get(shipped.key)
    if circuits is None:
        circuits = shipped.unpack()
        _unpacked[shipped.key] = circuits
        while len(_unpacked) > UNPACKED_KEPT:
            _unpacked.popitem(last=False)
    _unpacked.move_to_end(shipped.key)
    return circuits


def sample_circuits(
    circuits: QpyCircuits | ShippedTemplate, shots: Sequence[int], *, device: Any
) -> list[dict[str, int]]:
    """Counts of circuits on a device, each with its own shots (circuits of equal shots in one call).

    A :class:`~parsl_quantum.q_dreamer.planning.template.ShippedTemplate`'s circuits are unpacked once
    per worker and bound to its angles by the device (:meth:`~parsl_quantum.devices.device.Device.
    sample_assigned`, which may keep what it prepared of them).
    """
    shipped = circuits if isinstance(circuits, ShippedTemplate) else None
    unpacked = unpacked_template(shipped) if shipped is not None else circuits.unpack()
    counts: list[dict[str, int]] = [{} for _ in unpacked]
    by_shots: dict[int, list[int]] = {}
    for index, n in enumerate(shots):
        by_shots.setdefault(int(n), []).append(index)
    for n, indices in by_shots.items():
        chosen = [unpacked[i] for i in indices]
        if shipped is None:
            got = device.sample(chosen, shots=n)
        else:
            key = (shipped.key, tuple(indices))
            got = device.sample_assigned(chosen, shipped.assignment(), shots=n, key=key)
        for index, result in zip(indices, got, strict=True):
            counts[index] = result
    return counts


def fragment_count(subexperiments: int, slots: int) -> int:
    """The most fragment tasks for ``subexperiments`` circuits over ``slots`` workers: two per worker, at
    most one per circuit (two per worker lets a fast worker take a second while a slow one finishes)."""
    return min(subexperiments, 2 * max(slots, 1))


def _balanced(costs: Sequence[float], count: int) -> list[list[int]]:
    """Indices of ``costs`` in ``count`` bins of about equal total: longest first, each to the lightest
    bin so far (a few expensive subexperiments, those that branch on a mid-circuit outcome and cost ten
    times the others, land in different bins)."""
    bins: list[tuple[float, int]] = [(0.0, b) for b in range(count)]
    members: list[list[int]] = [[] for _ in range(count)]
    for index in sorted(range(len(costs)), key=lambda i: -costs[i]):
        total, b = heapq.heappop(bins)
        members[b].append(index)
        heapq.heappush(bins, (total + costs[index], b))
    return [m for m in members if m]


def _finish(totals: Sequence[float], slots: int, overhead: float) -> float:
    """When ``slots`` workers are done with tasks of ``totals`` seconds, each costing ``overhead`` more,
    taken costliest first by the worker free first."""
    free = [0.0] * max(slots, 1)
    for total in sorted(totals, reverse=True):
        heapq.heapreplace(free, free[0] + total + overhead)
    return max(free)


def fragments(
    work: Sequence[tuple[Hashable, int, Any, int]],
    slots: int,
    cost: Callable[[Any, int], float] | None = None,
    overhead: float = 0.0,
) -> list[list[tuple[Hashable, int, Any, int]]]:
    """Group subexperiments ``(label, index, circuit, shots)`` into fragments of about equal cost,
    costliest fragment first (each keeps its subexperiments in their order).

    One fragment per worker, or two where that finishes sooner: a second round of tasks costs each
    worker another task ``overhead`` but lets uneven subexperiments even out (a fast worker takes a
    second fragment while a slow one finishes). At most one fragment per subexperiment.

    Parameters
    ----------
    work
        The subexperiments.
    slots
        Workers to keep busy.
    cost
        Predicted cost of running ``circuit`` with ``shots`` (default: proportional to shots).
    overhead
        Predicted seconds a task costs its worker beyond its circuits (dispatch, result, device call).
    """
    if not work:
        return []
    cost = cost or (lambda circuit, shots: float(shots))
    costs = [cost(c, n) for _, _, c, n in work]
    best: tuple[float, list[list[int]], list[float]] | None = None
    for count in sorted({min(len(work), max(slots, 1)), fragment_count(len(work), slots)}):
        members = _balanced(costs, count)
        totals = [sum(costs[i] for i in m) for m in members]
        finish = _finish(totals, slots, overhead)
        if best is None or finish < best[0] * (1 - 1e-9):  # a tie goes to fewer tasks
            best = (finish, members, totals)
    assert best is not None
    _, members, totals = best
    order = sorted(range(len(members)), key=lambda b: -totals[b])
    return [[work[i] for i in sorted(members[b])] for b in order]


def submit_cut(
    problem: CutProblem,
    shots: Sequence[int],
    executors: Sequence[str],
    classical_executors: Sequence[str] | None = None,
    requirements: dict[str, Any] | None = None,
    cost: Callable[[Any, int], float] | None = None,
    seed: int | None = None,
    on_fragment: Callable[[int, AppFuture], None] | None = None,
    bits: BitLayout | None = None,
    values_only: bool = False,
    overhead: float = 0.0,
) -> AppFuture:
    """Submit the fragment tasks and the reconstruction task of ``problem``.

    Parameters
    ----------
    problem
        The cutting decomposition.
    shots
        Shots per subexperiment index (see :func:`~parsl_quantum.q_dreamer.precision.allocate_shots`).
    executors
        Quantum executors for the fragment tasks.
    classical_executors
        Executors for the reconstruction task; ``None`` runs it on the DataFlowKernel's internal thread
        executor on the submitting host (a Parsl task of its own, off the pilots' result threads).
    requirements
        Extra requirements of the fragment tasks (``kinds``, ``pilot``, ``priority``...).
    cost
        Predicted cost of a subexperiment, used to balance fragments.
    seed
        Seed of the standard-error split (each fragment's is derived from it).
    on_fragment
        Called with each fragment task's index and future, in :func:`fragments` order.
    bits
        For a problem cut for the distribution of the measured bits, where each subsystem's bits go
        (:func:`~parsl_quantum.q_dreamer.planning.reconstruct_distribution.bit_layout`).
    values_only
        The reconstruction task gives the expectation values alone (an array), not the
        :class:`~parsl_quantum.q_dreamer.planning.reconstruct.Reconstruction`: no further task is needed to
        take them out of it. Ignored with ``bits``.
    overhead
        Predicted seconds a fragment task costs its worker beyond its circuits (see :func:`fragments`).

    Returns
    -------
    AppFuture
        Of a :class:`~parsl_quantum.q_dreamer.planning.reconstruct.Reconstruction` (its values with
        ``values_only``), or with ``bits`` of a :class:`~parsl_quantum.q_dreamer.distribution.Distribution`.
    """
    if len(shots) != len(problem.coefficients):
        raise ValueError(f"{len(shots)} shot counts for {len(problem.coefficients)} subexperiment indices")
    layout = {label: len(circuits) for label, circuits in problem.subexperiments.items()}
    if bits is None:
        groups = outcome_groups(problem.coefficients, problem.subobservables)
        readings = {label: list(runs) for label, runs in groups.items()}
        process, finish = process_fragment, reconstruct_fragments
        arguments: tuple = (
            layout,
            problem.coefficients,
            problem.subobservables,
            problem.paulis,
            problem.observables,
        )
    else:
        readings = {label: [bits.positions[label]] * n for label, n in layout.items()}
        process, finish = process_fragment_outcomes, reconstruct_fragment_distribution
        arguments = (layout, problem.coefficients, bits.num_bits)
    work = []
    for label, circuits in problem.subexperiments.items():
        per_index = len(circuits) // len(problem.coefficients)
        work.extend((label, i, qc, int(shots[i // per_index])) for i, qc in enumerate(circuits))
    batches = batches_for(min(int(n) for n in shots))
    spec = {"qubits": problem.widest, **(requirements or {})}
    fragment_app = _app(sample_fragment, tuple(executors))
    launched = []
    for number, group in enumerate(fragments(work, worker_slots(executors), cost, overhead)):
        total = sum(n for *_, n in group)
        if problem.template is not None and problem.values is not None:
            circuits = problem.template.ship([(label, i) for label, i, _, _ in group], problem.values)
        else:
            circuits = QpyCircuits([qc for _, _, qc, _ in group])
        future = fragment_app(
            circuits,
            [n for *_, n in group],
            [readings[label][i] for label, i, _, _ in group],
            batches,
            None if seed is None else seed * 100003 + number,
            process,
            parsl_resource_specification={**spec, "shots": total},
        )
        if on_fragment is not None:
            on_fragment(number, future)
        launched.append(([(label, i) for label, i, _, _ in group], future))
    if not launched:
        raise ValueError("a cut problem without subexperiments")
    index = [slots for slots, _ in launched]
    futures = [future for _, future in launched]
    where = list(classical_executors) if classical_executors else [INTERNAL_EXECUTOR]
    options = {"values_only": True} if values_only and bits is None else {}
    return _app(finish, tuple(where))(*arguments, index, *futures, **options)


def reconstruct_fragments(
    layout: dict[Hashable, int],
    coefficients: Sequence[tuple[float, Any]],
    subobservables: dict[Hashable, Any],
    paulis: Any,
    observables: Sequence[Any],
    index: Sequence[Sequence[tuple[Hashable, int]]],
    *fragment_results: list[ProcessedCounts],
    values_only: bool = False,
) -> Reconstruction | np.ndarray:
    """The reconstruction task: put the fragments' processed outcomes back in subexperiment order and
    combine them (``values_only``: give the expectation values alone)."""
    processed = in_order(layout, index, fragment_results)
    result = combine(processed, coefficients, subobservables, paulis, observables)
    return result.values if values_only else result


def reconstruct_fragment_distribution(
    layout: dict[Hashable, int],
    coefficients: Sequence[tuple[float, Any]],
    num_bits: int,
    index: Sequence[Sequence[tuple[Hashable, int]]],
    *fragment_results: list[SignedTallies],
) -> Distribution:
    """The reconstruction task of a distribution: the fragments' tallies back in subexperiment order,
    combined."""
    return combine_distribution(in_order(layout, index, fragment_results), coefficients, num_bits)


def in_order(
    layout: dict[Hashable, int],
    index: Sequence[Sequence[tuple[Hashable, int]]],
    fragment_results: Sequence[Sequence[Any]],
) -> dict[Hashable, list[Any]]:
    """Per subsystem label, the fragments' results in subexperiment order (``index``: each fragment's
    ``(label, subexperiment)`` pairs, ``layout``: each label's number of subexperiments)."""
    processed: dict[Hashable, list[Any]] = {label: [None] * n for label, n in layout.items()}
    for slots, results in zip(index, fragment_results, strict=True):
        for (label, i), result in zip(slots, results, strict=True):
            processed[label][i] = result
    return processed
