"""Generating subexperiments with the uncut gates folded into runs gives the addon's own circuits."""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit.circuit import Parameter
from qiskit.circuit.library import efficient_su2
from qiskit.quantum_info import PauliList
from qiskit_addon_cutting import (
    cut_gates,
    cut_wires,
    expand_observables,
    generate_cutting_experiments,
    partition_problem,
)
from qiskit_addon_cutting.instructions import CutWire

from parsl_quantum.q_dreamer.planning.generate import folded, generate, unfolded


def su2(n: int, reps: int, seed: int) -> QuantumCircuit:
    qc = efficient_su2(n, entanglement="linear", reps=reps).decompose()
    return qc.assign_parameters(np.random.default_rng(seed).uniform(-np.pi, np.pi, qc.num_parameters))


def gate_cut(n: int, reps: int, observables: list[str]) -> tuple[QuantumCircuit, PauliList]:
    """``su2(n)`` with the CX gates across the middle cut (one per repetition)."""
    qc = su2(n, reps, 3)
    middle = [
        i
        for i, inst in enumerate(qc.data)
        if inst.operation.name == "cx" and {qc.find_bit(q).index for q in inst.qubits} == {n // 2 - 1, n // 2}
    ]
    return cut_gates(qc, middle)[0], PauliList(observables)


def wire_cut() -> tuple[QuantumCircuit, PauliList]:
    """A 4-qubit chain with a wire cut on qubit 1 between its two CX gates."""
    qc = QuantumCircuit(4)
    for q in range(4):
        qc.ry(0.3 + q, q)
    qc.cx(0, 1)
    qc.append(CutWire(), [1])
    qc.cx(1, 2)
    qc.cx(2, 3)
    qc.rz(0.7, 3)
    return qc, PauliList(["ZZZZ", "XIIX"])


def partitioned(cut: QuantumCircuit, observables: PauliList, original: QuantumCircuit) -> object:
    with_ancillas = cut_wires(cut) if "cut_wire" in cut.count_ops() else cut
    expanded = expand_observables(observables, original, with_ancillas)
    return partition_problem(circuit=with_ancillas, observables=expanded)


CASES = {
    "one gate cut": lambda: gate_cut(8, 1, ["ZZZZZZZZ"]),
    "two gate cuts, two bases": lambda: gate_cut(8, 2, ["ZIIIIIIZ", "XXIIIIII"]),
    "wire cut": wire_cut,
}


def uncut(cut: QuantumCircuit) -> QuantumCircuit:
    """``cut`` less its wire-cut markers."""
    original = cut.copy_empty_like()
    for inst in cut.data:
        if inst.operation.name != "cut_wire":
            original.append(inst)
    return original


def pairs(problem: object, ours: object) -> list:
    """The addon's subexperiments of ``problem`` and :func:`generate`'s of ``ours`` side by side, once the
    coefficients and the layout are checked equal."""
    expected, coefficients = generate_cutting_experiments(
        circuits=problem.subcircuits, observables=problem.subobservables, num_samples=np.inf
    )
    subexperiments, weights = generate(ours.subcircuits, ours.subobservables)
    assert weights == list(coefficients)
    assert set(subexperiments) == set(expected)
    for label, circuits in expected.items():
        assert len(subexperiments[label]) == len(circuits)
    return [pair for label in expected for pair in zip(subexperiments[label], expected[label], strict=True)]


@pytest.mark.parametrize("case", list(CASES))
def test_the_subexperiments_are_the_addons_instruction_for_instruction(case):
    cut, observables = CASES[case]()
    problem = partitioned(cut, observables, uncut(cut))
    for mine, theirs in pairs(problem, problem):
        assert mine == theirs
        assert [i.operation.name for i in mine.data] == [i.operation.name for i in theirs.data]


def test_runs_fold_the_gates_between_cut_instructions_and_unfold_back():
    cut, observables = gate_cut(6, 2, ["ZZZZZZ"])
    problem = partitioned(cut, observables, cut)
    for subcircuit in problem.subcircuits.values():
        packed = folded(subcircuit)
        names = [i.operation.name for i in packed.data]
        assert names.count("gate_run") <= 3 and len(names) < len(subcircuit.data) / 4  # two cuts: three runs
        assert unfolded(packed) == subcircuit


def test_symbolic_angles_stay_symbolic_and_bind_per_subexperiment():
    theta = [Parameter(f"t{i}") for i in range(4)]
    qc = QuantumCircuit(4)
    for q in range(4):
        qc.ry(theta[q], q)
    qc.cx(0, 1)
    qc.cx(1, 2)
    qc.cx(2, 3)
    cut = cut_gates(qc, [5])[0]  # the CX between qubits 1 and 2
    problem = partitioned(cut, PauliList(["ZZZZ"]), qc)
    subexperiments, _ = generate(problem.subcircuits, problem.subobservables)
    values = {t: 0.1 * (i + 1) for i, t in enumerate(theta)}
    for circuits in subexperiments.values():
        for circuit in circuits:
            assert set(circuit.parameters) <= set(theta)
            bound = circuit.assign_parameters({t: values[t] for t in circuit.parameters})
            assert not bound.parameters
            assert circuit.parameters  # binding one left the others as they were


def _wires(circuit: QuantumCircuit) -> dict:
    """What acts on each qubit and each observable bit, in order (a QPD measurement's bit by its register
    alone: the reconstruction reads only the parity of the QPD bits, so which of them it fills is free)."""
    qubits = {q: i for i, q in enumerate(circuit.qubits)}
    bits = {}
    for register in circuit.cregs:
        for i, bit in enumerate(register):
            bits[bit] = (register.name, i if register.name == "observable_measurements" else None)
    wires: dict = {}
    for inst in circuit.data:
        item = (
            inst.name,
            tuple(qubits[q] for q in inst.qubits),
            tuple(bits[c] for c in inst.clbits),
            tuple(float(p) if not hasattr(p, "parameters") else str(p) for p in inst.params),
        )
        for wire in [("q", qubits[q]) for q in inst.qubits] + [bits[c] for c in inst.clbits]:
            wires.setdefault(wire, []).append(item)
    return wires


def _random_cut(n: int, seed: int) -> tuple[QuantumCircuit, PauliList]:
    from qiskit.circuit.random import random_circuit
    from qiskit_addon_cutting import DeviceConstraints, OptimizationParameters, find_cuts

    qc = random_circuit(n, 3, max_operands=2, seed=seed)
    search = OptimizationParameters(seed=1, max_backjumps=300)
    cut, _ = find_cuts(qc, search, DeviceConstraints(qubits_per_subcircuit=(2 * n) // 3))
    rng = np.random.default_rng(seed)
    return cut, PauliList(["".join(rng.choice(list("IXYZ"), n)) for _ in range(3)])


PARTITION_CASES = {
    **CASES,
    **{
        f"random {n} qubits, seed {seed}": partial(_random_cut, n, seed)
        for n, seed in ((6, 1), (6, 2), (8, 0), (8, 3), (10, 4))
    },
}


@pytest.mark.parametrize("case", list(PARTITION_CASES))
def test_partitioning_in_runs_gives_the_addons_subexperiments(case):
    """``partitioned`` (the addon's partitioning of the circuit with each piece's gates in runs), then
    ``generate``: the addon's subexperiments, coefficients and subobservables, each qubit's operations in
    the addon's order (only commuting operations on different qubits may come in another order)."""
    from parsl_quantum.q_dreamer.planning.generate import partitioned as in_runs

    cut, observables = PARTITION_CASES[case]()
    with_ancillas = cut_wires(cut) if "cut_wire" in cut.count_ops() else cut
    expanded = expand_observables(observables, uncut(cut), with_ancillas)
    problem = partition_problem(circuit=with_ancillas, observables=expanded)
    ours = in_runs(with_ancillas, expanded)
    assert {k: list(v) for k, v in ours.subobservables.items()} == {
        k: list(v) for k, v in problem.subobservables.items()
    }
    for mine, theirs in pairs(problem, ours):
        assert mine.num_qubits == theirs.num_qubits
        assert [(r.name, r.size) for r in mine.cregs] == [(r.name, r.size) for r in theirs.cregs]
        assert _wires(mine) == _wires(theirs)


def test_a_piece_is_folded_into_one_run_between_its_cut_instructions():
    from parsl_quantum.q_dreamer.planning.generate import folded_by_piece

    cut, _ = gate_cut(8, 1, ["ZZZZZZZZ"])
    packed, labels = folded_by_piece(cut)
    assert labels == [0] * 4 + [1] * 4
    names = [i.name for i in packed.data]
    # two pieces, one cut: each piece's gates before the cut in one run, and after it in another
    assert names.count("gate_run") == 4 and names.count("qpd_2q") == 1
    assert len(packed.data) == 5
