"""Partitioning a cut circuit and generating its subexperiments with qiskit-addon-cutting, the uncut gates
carried as blocks.

``partition_problem`` walks every instruction of the cut circuit several times (its connectivity, a
copy, a DAG to decompose the cut gates, another to split the pieces), and
``generate_cutting_experiments`` writes one circuit per subsystem and combination of the cuts' terms,
copying and rewriting every instruction of a subcircuit several times per subexperiment, though it
changes only the cut instructions (each replaced by its term's operations) and adds the observables'
measurements: the gates between cuts pass through untouched. Here the addon gets each piece's gates
between its cut instructions folded into one opaque instruction (:class:`GateRun`): :func:`partitioned`
folds them before partitioning, :func:`generate` folds what is left and unfolds the runs in what it
returns, so that the addon handles a few instructions per piece instead of every gate. The
subexperiments, coefficients and subobservables are the addon's own: the same operations on each qubit
in the same order (operations on different qubits, which commute, may come in another order, and with
several cuts in one piece the QPD measurements may fill the QPD register in another order: the
reconstruction reads only their parity).
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
    gate's instruction (its operation and parameters; its own qubits are not read) and its qubits'
    positions among the run's. Instructions, not operations: a standard gate's operation would be a
    Python object built for the purpose."""

    def __init__(self, body: list[tuple[CircuitInstruction, tuple[int, ...]]], num_qubits: int) -> None:
        super().__init__("gate_run", num_qubits, 0, [])
        self.body = body


def _foldable(inst: Any) -> bool:
    """Whether an instruction may go into a :class:`GateRun`: an ordinary gate (no cut instruction, no
    classical bit, nothing in :data:`KEPT`)."""
    from qiskit_addon_cutting.qpd import BaseQPDGate

    if inst.is_standard_gate():  # (reading a standard gate's operation builds a Python object for it)
        return True
    return not (inst.clbits or inst.name in KEPT or isinstance(inst.operation, BaseQPDGate))


def _run_of(run: list[Any]) -> CircuitInstruction:
    """Instructions ``run`` as one :class:`GateRun` on the qubits they act on (in order of first use);
    a run among them contributes its own gates (runs do not nest)."""
    qubits: dict[Any, int] = {}
    body: list[tuple[CircuitInstruction, tuple[int, ...]]] = []
    for inst in run:
        if inst.name == "gate_run":
            placed = [(gate, tuple(inst.qubits[p] for p in at)) for gate, at in inst.operation.body]
        else:
            placed = [(inst, inst.qubits)]
        for gate, on in placed:
            for q in on:
                qubits.setdefault(q, len(qubits))
            body.append((gate, tuple(qubits[q] for q in on)))
    return CircuitInstruction(GateRun(body, len(qubits)), tuple(qubits), ())


def folded(subcircuit: Any) -> Any:
    """``subcircuit`` with each run of consecutive ordinary gates (see :func:`_foldable`) as one
    :class:`GateRun`."""
    out = subcircuit.copy_empty_like()
    run: list[Any] = []
    for inst in subcircuit.data:
        if _foldable(inst):
            run.append(inst)
            continue
        if run:
            out._append(_run_of(run))
            run.clear()
        out._append(inst)
    if run:
        out._append(_run_of(run))
    return out


def folded_by_piece(circuit: Any) -> tuple[Any, list[int | None]]:
    """``circuit`` (cut gates and wires as the addon's ``TwoQubitQPDGate``) with the ordinary gates of
    each piece between its cut instructions folded into one :class:`GateRun`, and each qubit's piece.

    A piece is a group of qubits the instructions other than cut gates join, labelled as
    ``partition_problem`` labels them (0, 1, ... by their lowest qubit; ``None`` for a qubit nothing acts
    on). Each piece's gates are gathered until an instruction that is not foldable touches it; gates of
    different pieces act on different qubits, so moving one piece's run past another's instructions
    changes nothing, and within a piece the order is kept. The addon's partitioning then handles a few
    instructions per piece instead of every gate, and each subcircuit it gives holds the same gates in
    the same order, in runs.
    """
    from qiskit_addon_cutting.qpd import TwoQubitQPDGate

    from parsl_quantum.q_dreamer.planning.decompose import _components

    index = {q: i for i, q in enumerate(circuit.qubits)}
    data = list(circuit.data)
    cut = [not inst.is_standard_gate() and isinstance(inst.operation, TwoQubitQPDGate) for inst in data]
    used: set[int] = set()
    edges: list[tuple[int, int]] = []
    for inst, is_cut in zip(data, cut, strict=True):
        at = [index[q] for q in inst.qubits]
        used.update(at)
        if not is_cut:
            edges.extend((at[0], q) for q in at[1:])
    root = _components(len(index), edges)
    out = circuit.copy_empty_like()
    runs: dict[int, list[Any]] = {}
    for inst, is_cut in zip(data, cut, strict=True):
        if not is_cut and inst.qubits and _foldable(inst):
            runs.setdefault(root[index[inst.qubits[0]]], []).append(inst)
            continue
        for piece in dict.fromkeys(root[index[q]] for q in inst.qubits):
            run = runs.pop(piece, None)
            if run:
                out._append(_run_of(run))
        out._append(inst)
    for run in runs.values():
        out._append(_run_of(run))
    # pieces numbered by their lowest qubit; a qubit nothing acts on is in none
    numbers: dict[int, int] = {}
    labels: list[int | None] = []
    for q, piece in enumerate(root):
        if q not in used:
            labels.append(None)
            continue
        labels.append(numbers.setdefault(piece, len(numbers)))
    return out, labels


def partitioned(circuit: Any, observables: Any) -> Any:
    """``partition_problem(circuit, observables=observables)`` of the addon, on :func:`folded_by_piece`
    of the circuit (with the labels it gives, as the addon would find them): its subcircuits hold their
    gates in :class:`GateRun` s (:func:`generate` unfolds them)."""
    from qiskit_addon_cutting import partition_problem

    folded_circuit, labels = folded_by_piece(circuit)
    return partition_problem(circuit=folded_circuit, partition_labels=labels, observables=observables)


def _block(run: GateRun) -> Any:
    """``run``'s gates as a circuit on its own qubits, or ``None`` where one of them is not a standard
    gate: a block of standard gates is copied into each subexperiment whole (:func:`unfolded`)."""
    from qiskit import QuantumCircuit

    block = QuantumCircuit(run.num_qubits)
    qubits = block.qubits
    for gate, positions in run.body:
        if not gate.is_standard_gate():
            return None
        block._append(gate.replace(qubits=tuple(qubits[p] for p in positions)))
    return block


def unfolded(circuit: Any, blocks: dict[int, Any] | None = None) -> Any:
    """``circuit`` with every :class:`GateRun` replaced by its gates.

    A run of standard gates is copied in at once, from its block (:func:`_block`, kept in ``blocks`` by
    the run's body across the subexperiments that share it): the circuit keeps its own record of a
    standard gate and its parameters, so nothing is shared. Any other gate is added one at a time, one
    with symbolic parameters through ``append``, which copies it, so that no two subexperiments share a
    mutable operation."""
    blocks = {} if blocks is None else blocks
    out = circuit.copy_empty_like()
    index = {q: i for i, q in enumerate(circuit.qubits)}
    for inst in circuit.data:
        operation = inst.operation
        if not isinstance(operation, GateRun):
            out._append(inst)
            continue
        qubits = inst.qubits
        key = id(operation.body)
        if key not in blocks:
            blocks[key] = (_block(operation), operation.body)  # the body kept alive: its id stays its own
        block = blocks[key][0]
        if block is not None:
            out._data.native_extend(block._data, qubits=[index[q] for q in qubits])
            continue
        for gate, positions in operation.body:
            placed = gate.replace(qubits=tuple(qubits[p] for p in positions))
            symbolic = any(isinstance(p, ParameterExpression) for p in gate.params)
            if symbolic and not gate.is_standard_gate():
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
    blocks: dict[int, Any] = {}
    return (
        {label: [unfolded(qc, blocks) for qc in circuits] for label, circuits in subexperiments.items()},
        list(coefficients),
    )
