"""Lower bounds on a cut's makespan, cheap enough to set a candidate aside before any work is spent on it.

Before searching for ``c`` cuts, the bound comes from the fewest shots any ``c`` cuts need (the smallest
``kappa`` of one cut of the circuit, to the power ``c``, from :func:`cut_kinds`) and the fewest
subexperiments they generate (two subsystems at least, each with the fewest terms of one cut to the power
``c``, from :func:`fewest_cut_terms`); after the search, from the shots its own ``kappa`` needs and the
subexperiments its cuts generate (:func:`cut_lower_bound`, :func:`fewest_subexperiments`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from parsl_quantum.q_dreamer.model.models import PilotModel, ReconstructionModel
from parsl_quantum.q_dreamer.precision import Target, cut_shots


def cut_lower_bound(
    kappa: float,
    observables: Sequence[Any],
    target: Target,
    subsystems: int,
    pilots: Sequence[PilotModel],
    branching: float,
    circuits: int = 0,
    reconstruction: ReconstructionModel | None = None,
) -> float:
    """Seconds any cut of ``kappa`` into ``subsystems`` pieces needs at least.

    It needs ``N`` shots per subsystem for the target; each costs at least a pilot's calibrated cost per
    shot and per measured bit (every subexperiment reads at least one: one that reads none cannot be
    sampled), and a share ``branching`` of them (over both sides of a cut, see :func:`cut_kinds`) at
    least the extra cost of a shot after a mid-circuit measurement; spread over every slot. A pilot that
    draws counts from the measured qubits' marginal pays those costs per outcome, not per shot: at least
    once per circuit. Where the
    cut is known to generate ``circuits`` subexperiments (see :func:`fewest_subexperiments`), each costs
    at least a pilot's fixed cost per circuit and the ``reconstruction`` model's cost per circuit
    (processing on a worker, packing, and reading it in the reconstruction, which runs once).
    """
    shots = cut_shots(kappa, observables, target.stderr)
    slots = sum(max(p.workers, 1) for p in pilots) or 1
    costs = [
        p.scale
        * (
            (p.simulator.c2 + p.simulator.c5)
            * (circuits if p.simulator.samples_marginals else shots * subsystems)
            + (0.0 if p.simulator.samples_marginals else p.simulator.c4 * shots * branching)
            + p.simulator.c0 * circuits
        )
        for p in pilots
        if p.simulator is not None and p.qpu is None
    ]
    bound = min(costs, default=0.0) / slots
    if reconstruction is not None and circuits and costs:
        bound += reconstruction.processing(0.0, 0) * circuits / slots
        bound += reconstruction.serialising(circuits) + reconstruction.seconds(circuits, 0.0, 0)
    return bound


def fewest_subexperiments(cut_circuit: Any, subsystems: int) -> int:
    """The fewest subexperiments ``generate_cutting_experiments`` makes of a circuit cut as ``cut_circuit``
    (its cut gates as ``qpd_2q`` instructions, its wire cuts as ``cut_wire``) into ``subsystems`` pieces:
    every subsystem gets one per combination of the cuts' terms (those of nonzero weight), for each
    group of its observables (at least one)."""
    from qiskit_addon_cutting.instructions import Move
    from qiskit_addon_cutting.qpd import qpdbasis_from_instruction

    terms = 1
    for inst in cut_circuit.data:
        name = inst.name
        if name == "qpd_2q":
            basis = inst.operation.basis
        elif name == "cut_wire":
            basis = qpdbasis_from_instruction(Move())
        else:
            continue
        terms *= _nonzero_terms(basis)
    return subsystems * terms


def _nonzero_terms(basis: Any) -> int:
    """Terms of nonzero weight in a QPD basis (at least one)."""
    return max(1, sum(1 for c in basis.coeffs if float(c) != 0.0))


def _measuring_share(basis: Any, side: int) -> float:
    """The share of a decomposition's ``|coefficients|`` whose term measures on ``side``."""
    total = sum(abs(float(c)) for c in basis.coeffs) or 1.0
    measured = sum(
        abs(float(c))
        for c, maps in zip(basis.coeffs, basis.maps, strict=True)
        if any(op.name == "qpd_measure" for op in maps[side])
    )
    return measured / total


def fewest_cut_terms(circuit: Any) -> int:
    """The fewest terms of nonzero weight that any one cut of ``circuit`` decomposes into, over its
    two-qubit gates the addon can cut and a wire cut: ``c`` cuts generate at least its ``c``-th power of
    subexperiments per subsystem."""
    from qiskit_addon_cutting.instructions import Move
    from qiskit_addon_cutting.qpd import qpdbasis_from_instruction

    fewest = _nonzero_terms(qpdbasis_from_instruction(Move()))
    seen: set[Any] = set()
    for inst in circuit.data:
        operation = inst.operation
        if len(inst.qubits) != 2 or operation.name in ("barrier", "measure"):
            continue
        key = (operation.name, repr(operation.params))
        if key in seen:
            continue
        seen.add(key)
        try:
            fewest = min(fewest, _nonzero_terms(qpdbasis_from_instruction(operation)))
        except (ValueError, TypeError):
            continue
    return fewest


def cut_kinds(circuit: Any) -> tuple[float, float]:
    """``(kappa, branching)``: the smallest ``kappa`` any one cut of ``circuit`` can have, and the smallest
    share of shots (summed over a cut's two sides) that a cut makes measure mid-circuit, over its gates
    (the addon's decomposition of each) and a wire cut. A side counts only where its qubit is acted on
    after the cut."""
    from qiskit_addon_cutting.instructions import Move
    from qiskit_addon_cutting.qpd import qpdbasis_from_instruction

    last: dict[int, int] = {}
    for index, inst in enumerate(circuit.data):
        if inst.name not in ("measure", "barrier"):
            for q in inst.qubits:
                last[circuit.find_bit(q).index] = index
    wire = qpdbasis_from_instruction(Move())
    kappa, branching = float(wire.kappa), _measuring_share(wire, 0)
    shares: dict[Any, tuple[float, float, float]] = {}
    for index, inst in enumerate(circuit.data):
        operation = inst.operation
        if len(inst.qubits) != 2 or operation.name in ("barrier", "measure"):
            continue
        key = (operation.name, repr(operation.params))
        if key not in shares:
            try:
                basis = qpdbasis_from_instruction(operation)
            except (ValueError, TypeError):
                continue
            shares[key] = (float(basis.kappa), _measuring_share(basis, 0), _measuring_share(basis, 1))
        gate_kappa, first, second = shares[key]
        a, b = (circuit.find_bit(q).index for q in inst.qubits)
        share = first * (last.get(a, -1) > index) + second * (last.get(b, -1) > index)
        kappa, branching = min(kappa, gate_kappa), min(branching, share)
    return max(kappa, 1.0), branching
