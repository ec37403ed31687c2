"""What a plan would ask of a QPU: its circuits per device call, and the QPU seconds they take one by one
and packed side by side (:mod:`parsl_quantum.q_dreamer.model.qpu_time`), for the plan table.

A plan's device calls are those its tasks would make: running whole, one call sampling every measurement
basis (or the measured circuit, for a distribution); cut, one call per fragment and shots, the
subexperiments grouped into fragments as :func:`~parsl_quantum.q_dreamer.planning.rewrite.fragments`
groups them when the plan is submitted. A device packs only the circuits of one call, so the grouping
matters: ``n`` subexperiments in ``f`` fragments take up to ``f`` more packed circuits than in one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from parsl_quantum.q_dreamer.model.qpu_time import PackingComparison, compare_packing

if TYPE_CHECKING:
    from parsl_quantum.q_dreamer.planning.plan import CuttingPlan


def qpu_backend(plan: CuttingPlan) -> str | None:
    """The backend of the QPU pilot the plan was weighed for (the ``pilot`` it was asked to use, or else
    the first QPU pilot of the executor), or ``None`` when its executor has none."""
    dreamer, executor = plan._dreamer, plan._executor
    if dreamer is None or dreamer.profile is None or executor is None:
        return None
    wanted = plan._requirements.get("pilot")
    for name in executor.pilots:
        model = dreamer.profile.pilots.get(name)
        if model is not None and model.kind == "qpu" and wanted in (None, name):
            return model.backend
    return None


def device_calls(plan: CuttingPlan) -> list[list[tuple[Any, int]]]:
    """The ``(circuit, shots)`` pairs of each of the plan's tasks (each task calls its device once per
    distinct shots)."""
    from parsl_quantum.circuits.estimation import basis_circuit, group_paulis
    from parsl_quantum.circuits.normalize import to_observable
    from parsl_quantum.executors.dfk_executors import worker_slots
    from parsl_quantum.q_dreamer.planning.rewrite import fragments

    circuit = plan._circuit
    if not plan.cut:
        if plan.output == "distribution":
            return [[(plan._measured.measure(circuit), plan.shots)]]
        observables = [to_observable(o, circuit.num_qubits) for o in plan._observables]
        return [[(basis_circuit(circuit, g.basis), plan.shots) for g in group_paulis(observables)]]
    prediction = plan._prediction
    problem = prediction.problem
    work = []
    for label, circuits in problem.subexperiments.items():
        per_index = len(circuits) // len(problem.coefficients)
        work.extend(
            (label, i, qc, int(prediction.allocation[i // per_index])) for i, qc in enumerate(circuits)
        )
    groups = fragments(
        work, worker_slots(plan._executors), prediction.cost(problem), prediction.task_overhead
    )
    return [[(qc, shots) for *_, qc, shots in group] for group in groups]


def qpu_seconds(plan: CuttingPlan, backend: str | None = None) -> PackingComparison | None:
    """QPU seconds of the plan's device calls on ``backend`` (default: :func:`qpu_backend`), one circuit
    at a time and packed as the device packs them; ``None`` without a QPU backend.

    Raises
    ------
    BackendError
        For a real device (``ibm_*``) that cannot be reached to read its target.
    """
    from parsl_quantum.devices import get_device

    backend = backend or qpu_backend(plan)
    if backend is None:
        return None
    if backend not in plan._qpu_seconds:
        plan._qpu_seconds[backend] = compare_packing(device_calls(plan), get_device(backend))
    return plan._qpu_seconds[backend]


def qpu_columns(plans: list[CuttingPlan], backend: str | None = None) -> tuple[str, list[str], str] | None:
    """Columns of the plan table for ``plans``: the header, each plan's cells (QPU seconds one by one and
    packed) and a footnote naming the device; ``None`` where there is no QPU to count for."""
    from parsl_quantum.errors import BackendError

    backend = backend or qpu_backend(plans[0])
    if backend is None:
        return None
    cells = []
    for plan in plans:
        try:
            comparison = qpu_seconds(plan, backend)
        except BackendError:
            return None
        assert comparison is not None
        cells.append(f"{comparison.unpacked.seconds:>9.3f} {comparison.packed.seconds:>9.3f}")
    note = (
        f"QPU s on {backend} from its target's gate, readout and repetition times: one circuit at a time, "
        "and packed side by side on disjoint regions of the chip"
    )
    return f"{'QPU s':>9} {'packed':>9}", cells, note
