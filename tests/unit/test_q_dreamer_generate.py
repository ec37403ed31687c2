"""Generating subexperiments with the uncut gates folded into runs gives the addon's own circuits."""

from __future__ import annotations

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


@pytest.mark.parametrize("case", list(CASES))
def test_the_subexperiments_are_the_addons_instruction_for_instruction(case):
    cut, observables = CASES[case]()
    original = cut.copy_empty_like()
    for inst in cut.data:
        if inst.operation.name != "cut_wire":
            original.append(inst)
    problem = partitioned(cut, observables, original)
    expected, coefficients = generate_cutting_experiments(
        circuits=problem.subcircuits, observables=problem.subobservables, num_samples=np.inf
    )
    subexperiments, ours = generate(problem.subcircuits, problem.subobservables)
    assert ours == list(coefficients)
    assert set(subexperiments) == set(expected)
    for label, circuits in expected.items():
        assert len(subexperiments[label]) == len(circuits)
        for mine, theirs in zip(subexperiments[label], circuits, strict=True):
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
