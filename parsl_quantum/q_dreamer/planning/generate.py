"""Generating a cut's subexperiments with qiskit-addon-cutting, its uncut gates carried as blocks.

``generate_cutting_experiments`` writes one circuit per subsystem and combination of the cuts' terms. It
copies and rewrites every instruction of a subcircuit several times per subexperiment, though it changes
only the cut instructions (each replaced by its term's operations) and adds the observables'
measurements: the gates between cuts pass through untouched. :func:`generate` hands it each subcircuit
with every run of consecutive ordinary gates folded into one opaque instruction (:class:`GateRun`), and
unfolds the runs in what it returns, so that the addon handles a few instructions per subexperiment
instead of every gate. The subexperiments and coefficients are the addon's own (the same circuits,
instruction for instruction).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any

import numpy as np
from qiskit.circuit import CircuitInstruction, Instruction, ParameterExpression

KEPT = frozenset({"measure", "reset", "barrier", "delay", "cut_wire", "move"})
"""Instructions never folded into a run: the addon reads or rewrites them."""


class GateRun(Instruction):
    """Consecutive gates of a subcircuit as one instruction on the qubits they act on: ``body`` holds each
    gate's operation and its qubits' positions among them."""

    def __init__(self, body: list[tuple[Any, tuple[int, ...]]], num_qubits: int) -> None:
        super().__init__("gate_run", num_qubits, 0, [])
        self.body = body


def folded(subcircuit: Any) -> Any:
    """``subcircuit`` with each run of consecutive ordinary gates (no cut instruction, no classical bit,
    nothing in :data:`KEPT`) as one :class:`GateRun`."""
    from qiskit_addon_cutting.qpd import BaseQPDGate

    out = subcircuit.copy_empty_like()
    run: list[Any] = []

    def flush() -> None:
        if not run:
            return
        qubits: dict[Any, int] = {}
        for inst in run:
            for q in inst.qubits:
                qubits.setdefault(q, len(qubits))
        body = [(inst.operation, tuple(qubits[q] for q in inst.qubits)) for inst in run]
        out._append(CircuitInstruction(GateRun(body, len(qubits)), tuple(qubits), ()))
        run.clear()

    for inst in subcircuit.data:
        operation = inst.operation
        if inst.clbits or isinstance(operation, BaseQPDGate) or operation.name in KEPT:
            flush()
            out._append(inst)
        else:
            run.append(inst)
    flush()
    return out


def unfolded(circuit: Any) -> Any:
    """``circuit`` with every :class:`GateRun` replaced by its gates.

    A standard gate is added as is (the circuit keeps its own record of it and of its parameters); any
    other gate with symbolic parameters through ``append``, which copies it, so that no two
    subexperiments share a mutable operation."""
    out = circuit.copy_empty_like()
    for inst in circuit.data:
        operation = inst.operation
        if not isinstance(operation, GateRun):
            out._append(inst)
            continue
        qubits = inst.qubits
        for gate, positions in operation.body:
            placed = CircuitInstruction(gate, tuple(qubits[p] for p in positions), ())
            symbolic = any(isinstance(p, ParameterExpression) for p in gate.params)
            if symbolic and getattr(gate, "_standard_gate", None) is None:
                out.append(placed)
            else:
                out._append(placed)
    return out


def generate(
    subcircuits: Mapping[Hashable, Any], subobservables: Mapping[Hashable, Any]
) -> tuple[dict[Hashable, list[Any]], list[Any]]:
    """Every subexperiment of the partitioned problem and the coefficients (exact quasi-probability
    weights), as ``generate_cutting_experiments(..., num_samples=inf)`` gives them."""
    from qiskit_addon_cutting import generate_cutting_experiments

    subexperiments, coefficients = generate_cutting_experiments(
        circuits={label: folded(qc) for label, qc in subcircuits.items()},
        observables=subobservables,
        num_samples=np.inf,
    )
    return (
        {label: [unfolded(qc) for qc in circuits] for label, circuits in subexperiments.items()},
        list(coefficients),
    )
